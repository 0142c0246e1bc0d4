//! Access tokens as MetaDisk's accounts service wrote them: 16 base-62
//! digits (`0-9A-Za-z`), least significant first. The engine's tokens use
//! this format (see `cairn_node`'s tokens), so MetaDisk's clients take them.

/// The digits of a token, `0-9A-Za-z`.
const TOKEN_DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// An access token as MetaDisk's accounts service made them: 12 random
/// bytes read as a big-endian integer, written as 16 base-62 digits
/// (`0-9A-Za-z`), least significant first; what lies above 62^16 is
/// dropped.
pub fn token_from(random: [u8; 12]) -> String {
    let mut wide = [0u8; 16];
    wide[4..].copy_from_slice(&random);
    token_of(u128::from_be_bytes(wide))
}

/// `n` as a token: 16 base-62 digits, least significant first; what lies
/// above 62^16 is dropped.
pub fn token_of(mut n: u128) -> String {
    (0..16)
        .map(|_| {
            let digit = TOKEN_DIGITS[(n % 62) as usize] as char;
            n /= 62;
            digit
        })
        .collect()
}

/// The number a token of 16 base-62 digits writes ([`token_of`] undone);
/// `None` for anything else.
pub fn token_value(token: &str) -> Option<u128> {
    if token.len() != 16 {
        return None;
    }
    token.bytes().rev().try_fold(0u128, |n, b| {
        let digit = TOKEN_DIGITS.iter().position(|d| *d == b)?;
        Some(n * 62 + digit as u128)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_the_accounts_services_generator() {
        assert_eq!(token_from([0x66; 12]), "oiFyR2NcMvaSiNDf");
        assert_eq!(token_from([0; 12]), "0000000000000000");
        assert_eq!(token_from([0xff; 12]).len(), 16);
    }

    #[test]
    fn token_values_read_back() {
        for n in [0, 1, 61, 62, 1 << 95, 62u128.pow(16) - 1] {
            assert_eq!(token_value(&token_of(n)), Some(n), "{n}");
        }
        assert_eq!(
            token_value("oiFyR2NcMvaSiNDf").map(token_of).as_deref(),
            Some("oiFyR2NcMvaSiNDf")
        );
        for bad in [
            "",
            "short",
            "oiFyR2NcMvaSiNDf0",
            "oiFyR2NcMvaSiND-",
            "oiFyR2NcMvaSiNDé",
        ] {
            assert_eq!(token_value(bad), None, "{bad}");
        }
    }
}
