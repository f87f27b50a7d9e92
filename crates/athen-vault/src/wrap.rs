//! Wrapping a mailbox secret under a credential.
//!
//! A wrapped secret is self-describing:
//!
//! ```text
//! "AW" | version (1) | kdf (1) | [argon2: m_kib, t, p as u32 BE] | salt (16) | nonce (24) | ciphertext+tag
//! ```
//!
//! The key-encryption key (KEK) comes from the credential: Argon2id for a
//! password (something a person remembers, so it must be slow to guess),
//! HKDF-SHA256 for recovery codes and app tokens (150+ random bits, so a
//! fast KDF is enough). The AEAD is XChaCha20-Poly1305 (random 192-bit
//! nonces are safe), with the mailbox's public key as associated data so a
//! wrapped secret cannot be moved to another mailbox.

use crate::keys::MailboxSecret;
use crate::{VaultError, random_bytes};
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::Aead;
use chacha20poly1305::aead::Payload;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const MAGIC: &[u8; 2] = b"AW";
const VERSION: u8 = 1;
const KDF_ARGON2ID: u8 = 1;
const KDF_HKDF_SHA256: u8 = 2;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;

/// Argon2id cost parameters. The default is the OWASP Password Storage Cheat
/// Sheet's first recommendation: 19 MiB of memory, 2 passes, 1 lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    /// Refuses parameters weaker than OWASP's floor or absurdly large.
    pub fn check(&self) -> Result<(), VaultError> {
        // OWASP's weakest acceptable setting is m=7 MiB with t=5; anything
        // below 7 MiB is refused outright.
        if self.memory_kib < 7 * 1024 {
            return Err(VaultError::Parameter(
                "argon2 memory must be at least 7168 KiB (OWASP minimum)".into(),
            ));
        }
        if self.memory_kib > 4 * 1024 * 1024 {
            return Err(VaultError::Parameter(
                "argon2 memory must be at most 4 GiB".into(),
            ));
        }
        if !(1..=20).contains(&self.iterations) {
            return Err(VaultError::Parameter(
                "argon2 iterations must be from 1 to 20".into(),
            ));
        }
        if !(1..=16).contains(&self.parallelism) {
            return Err(VaultError::Parameter(
                "argon2 parallelism must be from 1 to 16".into(),
            ));
        }
        Ok(())
    }

    /// Argon2id(password, salt) → 32 bytes.
    pub(crate) fn derive(
        &self,
        password: &[u8],
        salt: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|e| VaultError::Parameter(format!("argon2: {e}")))?;
        let mut out = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(password, salt, &mut out[..])
            .map_err(|e| VaultError::Parameter(format!("argon2: {e}")))?;
        Ok(out)
    }
}

/// HKDF-SHA256 for high-entropy secrets (recovery codes, tokens).
pub(crate) fn hkdf(secret: &[u8], salt: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), secret)
        .expand(info, &mut out[..])
        .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 output length"));
    out
}

/// AEAD-encrypts with a random nonce; returns nonce || ciphertext || tag.
pub(crate) fn aead_seal(
    key: &[u8; 32],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let nonce = random_bytes::<NONCE_LEN>()?;
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    let ct = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| VaultError::Parameter("message too large to encrypt".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens what [`aead_seal`] made; any damage or a wrong key gives `Err`.
pub(crate) fn aead_open(key: &[u8; 32], aad: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, ()> {
    if data.len() < NONCE_LEN + 16 {
        return Err(());
    }
    let (nonce, ct) = data.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| ())?;
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    cipher
        .decrypt(&nonce.into(), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| ())
}

fn wrap_aad(public_key: &str) -> Vec<u8> {
    let mut aad = b"athen-wrap-v1\0".to_vec();
    aad.extend_from_slice(public_key.as_bytes());
    aad
}

const HKDF_INFO: &[u8] = b"athen credential kek v1";

/// Wraps the secret under a password (Argon2id).
pub fn wrap_with_password(
    secret: &MailboxSecret,
    password: &[u8],
    params: KdfParams,
) -> Result<Vec<u8>, VaultError> {
    params.check()?;
    let salt = random_bytes::<SALT_LEN>()?;
    let kek = params.derive(password, &salt)?;
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(KDF_ARGON2ID);
    out.extend_from_slice(&params.memory_kib.to_be_bytes());
    out.extend_from_slice(&params.iterations.to_be_bytes());
    out.extend_from_slice(&params.parallelism.to_be_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&aead_seal(
        &kek,
        &wrap_aad(&secret.public_key()),
        &secret.to_bytes(),
    )?);
    Ok(out)
}

/// Wraps the secret under a high-entropy random credential (HKDF-SHA256).
pub fn wrap_with_random(secret: &MailboxSecret, credential: &[u8]) -> Result<Vec<u8>, VaultError> {
    let salt = random_bytes::<SALT_LEN>()?;
    let kek = hkdf(credential, &salt, HKDF_INFO);
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(KDF_HKDF_SHA256);
    out.extend_from_slice(&salt);
    out.extend_from_slice(&aead_seal(
        &kek,
        &wrap_aad(&secret.public_key()),
        &secret.to_bytes(),
    )?);
    Ok(out)
}

/// The KDF a wrapped secret uses, read from its header.
pub fn kdf_of(wrapped: &[u8]) -> Option<Option<KdfParams>> {
    if wrapped.len() < 4 || &wrapped[..2] != MAGIC || wrapped[2] != VERSION {
        return None;
    }
    match wrapped[3] {
        KDF_HKDF_SHA256 => Some(None),
        KDF_ARGON2ID if wrapped.len() >= 16 => {
            let u = |i: usize| {
                u32::from_be_bytes([wrapped[i], wrapped[i + 1], wrapped[i + 2], wrapped[i + 3]])
            };
            Some(Some(KdfParams {
                memory_kib: u(4),
                iterations: u(8),
                parallelism: u(12),
            }))
        }
        _ => None,
    }
}

/// Unwraps a secret with the credential the person gave. A wrong credential
/// and a damaged record look the same: [`VaultError::BadCredential`].
pub fn unwrap(
    wrapped: &[u8],
    credential: &[u8],
    public_key: &str,
) -> Result<MailboxSecret, VaultError> {
    let (kek, rest) = match kdf_of(wrapped) {
        Some(Some(params)) => {
            params.check()?;
            let rest = &wrapped[16..];
            if rest.len() < SALT_LEN {
                return Err(VaultError::BadCredential);
            }
            (
                params.derive(credential, &rest[..SALT_LEN])?,
                &rest[SALT_LEN..],
            )
        }
        Some(None) => {
            let rest = &wrapped[4..];
            if rest.len() < SALT_LEN {
                return Err(VaultError::BadCredential);
            }
            (
                hkdf(credential, &rest[..SALT_LEN], HKDF_INFO),
                &rest[SALT_LEN..],
            )
        }
        None => return Err(VaultError::BadCredential),
    };
    let plain =
        aead_open(&kek, &wrap_aad(public_key), rest).map_err(|_| VaultError::BadCredential)?;
    let secret = MailboxSecret::from_bytes(&plain)?;
    if secret.public_key() != public_key {
        return Err(VaultError::Corrupt(
            "unwrapped key does not match the mailbox",
        ));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cheapest parameters `check` accepts, to keep tests quick.
    pub(crate) fn fast() -> KdfParams {
        KdfParams {
            memory_kib: 7 * 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn password_round_trip_and_wrong_password() {
        let s = MailboxSecret::generate().unwrap();
        let pk = s.public_key();
        let w = wrap_with_password(&s, b"correct horse", fast()).unwrap();
        assert_eq!(unwrap(&w, b"correct horse", &pk).unwrap().public_key(), pk);
        assert!(matches!(
            unwrap(&w, b"wrong", &pk),
            Err(VaultError::BadCredential)
        ));
        assert_eq!(kdf_of(&w), Some(Some(fast())));
    }

    #[test]
    fn wrapped_secret_is_bound_to_its_mailbox() {
        let s = MailboxSecret::generate().unwrap();
        let other = MailboxSecret::generate().unwrap();
        let w = wrap_with_random(&s, b"token-secret").unwrap();
        assert!(unwrap(&w, b"token-secret", &other.public_key()).is_err());
        assert!(unwrap(&w, b"token-secret", &s.public_key()).is_ok());
    }

    #[test]
    fn rewrapping_keeps_the_same_keys() {
        let s = MailboxSecret::generate().unwrap();
        let w1 = wrap_with_password(&s, b"old", fast()).unwrap();
        let opened = unwrap(&w1, b"old", &s.public_key()).unwrap();
        let w2 = wrap_with_password(&opened, b"new", fast()).unwrap();
        let again = unwrap(&w2, b"new", &s.public_key()).unwrap();
        assert_eq!(again.data_key(), s.data_key());
    }

    #[test]
    fn every_truncation_and_bit_flip_is_refused() {
        let s = MailboxSecret::generate().unwrap();
        let pk = s.public_key();
        let w = wrap_with_random(&s, b"t").unwrap();
        for n in 0..w.len() {
            assert!(unwrap(&w[..n], b"t", &pk).is_err(), "truncated at {n}");
        }
        for i in 0..w.len() {
            let mut x = w.clone();
            x[i] ^= 0x01;
            assert!(unwrap(&x, b"t", &pk).is_err(), "flipped byte {i}");
        }
    }

    #[test]
    fn weak_parameters_are_refused() {
        let weak = KdfParams {
            memory_kib: 1024,
            ..KdfParams::default()
        };
        assert!(weak.check().is_err());
        assert!(KdfParams::default().check().is_ok());
    }
}
