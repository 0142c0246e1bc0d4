//! Amounts in request bodies (a deposit, a withdrawal): a JSON integer
//! from 1 to [`MAX_AMOUNT`], and nothing else. Strings, fractions and
//! exponents (`"5"`, `1.5`, `1e3`) are refused rather than converted:
//! a client that sends them meant something this API cannot be sure of,
//! and a rounded amount moves money nobody asked to move. The bound is
//! the ledger's: 2^53 − 1, exact in every JSON client.

use cairn_node::MAX_AMOUNT;
use serde_json::Value;

/// The amount `v` holds, if it is a JSON integer from 1 to [`MAX_AMOUNT`].
pub fn positive(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64)
        .filter(|n| (1..=MAX_AMOUNT as u64).contains(n))
}

/// What an amount in `field` must be, for the error that refuses one.
pub fn rule(field: &str) -> String {
    format!(
        "{field} must be a JSON integer from 1 to {MAX_AMOUNT} (not a string, \
         a fraction or an exponent)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_json_integers_in_bounds_are_amounts() {
        for good in [json!(1), json!(30), json!(MAX_AMOUNT)] {
            assert!(positive(Some(&good)).is_some(), "{good}");
        }
        let past: Value = serde_json::from_str("9007199254740992").unwrap();
        let exponent: Value = serde_json::from_str("1e3").unwrap();
        for bad in [
            json!("5"),
            json!(1.5),
            json!(0.5),
            json!(2.0),
            exponent,
            json!(0),
            json!(-5),
            json!(i64::MAX),
            json!(u64::MAX),
            past,
            json!(null),
            json!(true),
            json!([1]),
        ] {
            assert_eq!(positive(Some(&bad)), None, "{bad}");
        }
        assert_eq!(positive(None), None);
    }
}
