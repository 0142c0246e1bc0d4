//! MetaDisk's convergent encryption, byte-exact with its `file-encryptor`
//! package.
//!
//! - key = HMAC-SHA256, keyed with a passphrase (by default
//!   [`DEFAULT_PASSPHRASE`]), over the 64 lowercase hex digits of the
//!   plaintext's SHA-256;
//! - cipher = AES-256-CTR with no IV: the whole 128-bit block is a
//!   big-endian counter;
//! - `filehash` = lowercase hex SHA-256 of the ciphertext.
//!
//! The counter's first value differs by era (see the seed details): the
//! published `file-encryptor` 0.2.9 starts at 1, which is cairn's default so
//! that a ciphertext downloaded without a key decrypts with that package;
//! the live 2014 network started at 0, and [`CounterStart::Zero`] reproduces
//! its production vectors.

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The passphrase `file-encryptor` uses when none is given (web-core never
/// gave one).
pub const DEFAULT_PASSPHRASE: &str = "Something old, something new.";

/// Where the CTR counter starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CounterStart {
    /// pycryptopp era, the live network's behaviour.
    Zero,
    /// pycrypto `Counter.new(128)`, the published package.
    #[default]
    One,
}

/// The convergent key of a plaintext whose SHA-256 is `plain_sha256`.
pub fn key(plain_sha256: &[u8; 32], passphrase: &str) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(passphrase.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(hex::encode(plain_sha256).as_bytes());
    mac.finalize().into_bytes().into()
}

/// The keystream of one file, applied in order (encrypting and decrypting
/// are the same transform).
pub struct Cipher(ctr::Ctr128BE<Aes256>);

impl Cipher {
    /// A cipher at the start of a file.
    pub fn new(key: &[u8; 32], start: CounterStart) -> Self {
        let first: u128 = match start {
            CounterStart::Zero => 0,
            CounterStart::One => 1,
        };
        Self(ctr::Ctr128BE::new(
            &(*key).into(),
            &first.to_be_bytes().into(),
        ))
    }

    /// Transforms the next bytes of the file in place.
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

/// Encrypts a whole plaintext: returns (key, ciphertext, filehash hex).
pub fn seal(plain: &[u8], passphrase: &str, start: CounterStart) -> ([u8; 32], Vec<u8>, String) {
    let key = key(&Sha256::digest(plain).into(), passphrase);
    let mut data = plain.to_vec();
    Cipher::new(&key, start).apply(&mut data);
    let filehash = hex::encode(Sha256::digest(&data));
    (key, data, filehash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_of_hello_world_matches_the_issue_vector() {
        let (key, _, _) = seal(b"hello world", DEFAULT_PASSPHRASE, CounterStart::One);
        assert_eq!(
            hex::encode(key),
            "3130cb723698a4ed3b0e078f511b05ae5c6153b16f6c33a323bfa868026399d9"
        );
    }

    #[test]
    fn counter_zero_reproduces_the_live_networks_vectors() {
        let cases: [(&[u8], &str, &str); 2] = [
            (
                b"Hello World!",
                "2b77e64156f9f7eb16d74b98f70417e4d665d977d0ef00e793d41767acf13e8c",
                "5547a152337de9ff6a97f6f099bb024e08af419cee613b18da76a33e581d49ac",
            ),
            (
                b"test data\n",
                "31292df8fd0ec1d5c3904fc12a4c90ca1f2425e0aaad1e6171970fddb904a823",
                "0c12e76f671e6056b3be9af526acf1f6ca3d42d9066c811c9bceae560f3791cc",
            ),
        ];
        for (plain, want_key, want_hash) in cases {
            let (key, _, filehash) = seal(plain, DEFAULT_PASSPHRASE, CounterStart::Zero);
            assert_eq!(hex::encode(key), want_key);
            assert_eq!(filehash, want_hash);
        }
    }

    #[test]
    fn counter_one_gives_the_published_packages_hashes() {
        // The details give these only abbreviated: first and last digits.
        let (_, _, a) = seal(b"Hello World!", DEFAULT_PASSPHRASE, CounterStart::One);
        assert!(a.starts_with("7f0a3be0") && a.ends_with("65fa3"), "{a}");
        let (_, _, b) = seal(b"test data\n", DEFAULT_PASSPHRASE, CounterStart::One);
        assert!(b.starts_with("24964d35") && b.ends_with("68022"), "{b}");
    }

    #[test]
    fn decrypting_is_the_same_transform_and_pieces_chain() {
        let plain: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let (key, sealed, _) = seal(&plain, DEFAULT_PASSPHRASE, CounterStart::One);
        let mut back = sealed.clone();
        let mut cipher = Cipher::new(&key, CounterStart::One);
        let (a, b) = back.split_at_mut(333);
        cipher.apply(a);
        cipher.apply(b);
        assert_eq!(back, plain);
    }

    #[test]
    fn another_passphrase_gives_another_key() {
        let (a, _, _) = seal(b"x", DEFAULT_PASSPHRASE, CounterStart::One);
        let (b, _, _) = seal(b"x", "other", CounterStart::One);
        assert_ne!(a, b);
    }
}
