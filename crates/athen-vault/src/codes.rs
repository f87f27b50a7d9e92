//! The random codes people are shown once: recovery codes, app tokens,
//! confirmation codes for the posted letter, and the first-run token.

use crate::wrap::KdfParams;
use crate::{VaultError, random_bytes};
use athen_core::CredentialId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Crockford's base32 alphabet: no I, L, O or U, so codes survive being
/// read aloud or copied by hand.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Letters and digits without vowels (so no word, rude or otherwise, can
/// appear) and without 0/1 (never confused with O/I).
const CONFIRMATION_ALPHABET: &[u8; 28] = b"BCDFGHJKLMNPQRSTVWXZ23456789";

fn crockford(n: usize) -> Result<Zeroizing<String>, VaultError> {
    let bytes = Zeroizing::new(random_bytes::<64>()?);
    debug_assert!(n <= 64);
    // 256 is a multiple of 32, so `b & 31` is uniform.
    Ok(Zeroizing::new(
        bytes[..n]
            .iter()
            .map(|b| char::from(CROCKFORD[usize::from(b & 31)]))
            .collect(),
    ))
}

/// Upper-cases, drops separators, and maps look-alikes (O→0, I/L→1) as
/// Crockford's base32 prescribes.
fn normalise(input: &str) -> Zeroizing<String> {
    Zeroizing::new(
        input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            })
            .collect(),
    )
}

/// A new recovery code: 30 characters (150 random bits) in six groups of
/// five, e.g. `7K2QM-…`. Shown once at registration.
pub fn new_recovery_code() -> Result<Zeroizing<String>, VaultError> {
    let raw = crockford(30)?;
    let grouped: Vec<&str> = (0..6).map(|i| &raw[i * 5..i * 5 + 5]).collect();
    Ok(Zeroizing::new(grouped.join("-")))
}

/// The bytes a recovery code wraps with, however the person typed it.
pub fn recovery_code_bytes(input: &str) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(normalise(input).as_bytes().to_vec())
}

/// Prefix of app tokens, so they are recognisable in configs and logs
/// (and by secret scanners).
const TOKEN_PREFIX: &str = "athen_";

/// The secret part of a new app token (32 characters, 160 bits).
pub fn new_token_secret() -> Result<Zeroizing<String>, VaultError> {
    crockford(32)
}

/// The token string given to the person: `athen_<credential id>_<secret>`.
pub fn format_app_token(id: CredentialId, secret: &str) -> Zeroizing<String> {
    Zeroizing::new(format!("{TOKEN_PREFIX}{}_{secret}", id.0))
}

/// Splits a token into its credential id and secret, if it is one.
pub fn parse_app_token(input: &str) -> Option<(CredentialId, Zeroizing<Vec<u8>>)> {
    let rest = input.trim().strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id: i64 = id.parse().ok()?;
    let secret = normalise(secret);
    if secret.len() != 32 || !secret.bytes().all(|b| CROCKFORD.contains(&b)) {
        return None;
    }
    Some((CredentialId(id), Zeroizing::new(secret.as_bytes().to_vec())))
}

/// A confirmation code for the welcome letter: 10 characters, no vowels.
pub fn new_confirmation_code() -> Result<Zeroizing<String>, VaultError> {
    let mut out = Zeroizing::new(String::with_capacity(10));
    while out.len() < 10 {
        for b in random_bytes::<32>()? {
            // Rejection sampling keeps every character equally likely.
            if usize::from(b) < 28 * 9 && out.len() < 10 {
                out.push(char::from(CONFIRMATION_ALPHABET[usize::from(b) % 28]));
            }
        }
    }
    Ok(out)
}

/// What is stored of a confirmation code or one-time token: its SHA-256.
pub fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(normalise(code).as_bytes()).to_vec()
}

/// Compares a typed code with a stored hash in constant time.
pub fn code_matches(code: &str, hash: &[u8]) -> bool {
    bool::from(code_hash(code).ct_eq(hash))
}

/// A one-time token for creating the first administrator.
pub fn new_bootstrap_token() -> Result<Zeroizing<String>, VaultError> {
    crockford(32)
}

/// An Argon2id verifier for an operator password:
/// `m, t, p (u32 BE) | salt (16) | hash (32)`.
pub fn password_verifier(password: &[u8], params: KdfParams) -> Result<Vec<u8>, VaultError> {
    params.check()?;
    let salt = random_bytes::<16>()?;
    let hash = params.derive(password, &salt)?;
    let mut out = Vec::with_capacity(60);
    for v in [params.memory_kib, params.iterations, params.parallelism] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&salt);
    out.extend_from_slice(&hash[..]);
    Ok(out)
}

/// Checks a password against a verifier in constant time.
pub fn verify_password(verifier: &[u8], password: &[u8]) -> Result<bool, VaultError> {
    if verifier.len() != 12 + 16 + 32 {
        return Err(VaultError::Corrupt(
            "password verifier has the wrong length",
        ));
    }
    let u = |i: usize| {
        u32::from_be_bytes([
            verifier[i],
            verifier[i + 1],
            verifier[i + 2],
            verifier[i + 3],
        ])
    };
    let params = KdfParams {
        memory_kib: u(0),
        iterations: u(4),
        parallelism: u(8),
    };
    params.check()?;
    let hash = params.derive(password, &verifier[12..28])?;
    Ok(bool::from(hash[..].ct_eq(&verifier[28..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_look_right_and_normalise() {
        let c = new_recovery_code().unwrap();
        assert_eq!(c.len(), 35);
        assert_eq!(c.matches('-').count(), 5);
        let typed = c.to_lowercase().replace('-', " ");
        assert_eq!(recovery_code_bytes(&typed), recovery_code_bytes(&c));
        assert_ne!(new_recovery_code().unwrap(), c);
    }

    #[test]
    fn app_tokens_parse() {
        let s = new_token_secret().unwrap();
        let t = format_app_token(CredentialId(42), &s);
        let (id, secret) = parse_app_token(&t).unwrap();
        assert_eq!(id, CredentialId(42));
        assert_eq!(&secret[..], s.as_bytes());
        assert!(parse_app_token("hunter2").is_none());
        assert!(parse_app_token("athen_x_abc").is_none());
        assert!(parse_app_token("athen_1_short").is_none());
    }

    #[test]
    fn confirmation_codes_have_no_vowels() {
        for _ in 0..50 {
            let c = new_confirmation_code().unwrap();
            assert_eq!(c.len(), 10);
            assert!(!c.contains(['A', 'E', 'I', 'O', 'U', 'Y']));
            assert!(code_matches(&c.to_lowercase(), &code_hash(&c)));
        }
    }

    #[test]
    fn operator_password_verifier() {
        let p = KdfParams {
            memory_kib: 7168,
            iterations: 1,
            parallelism: 1,
        };
        let v = password_verifier(b"s3cret", p).unwrap();
        assert!(verify_password(&v, b"s3cret").unwrap());
        assert!(!verify_password(&v, b"s3cre7").unwrap());
        assert!(verify_password(&v[..10], b"s3cret").is_err());
    }
}
