//! A mailbox's secret: its age X25519 identity and its data key.

use crate::{VaultError, random_bytes};
use age::secrecy::ExposeSecret;
use std::str::FromStr;
use zeroize::{Zeroize, Zeroizing};

/// Format version of the serialised secret, so it can change later.
const SECRET_FORMAT: u8 = 1;

/// The secret half of a mailbox. Exists in memory only while the mailbox is
/// unlocked; stored only wrapped by a credential. Both parts are zeroized
/// when this is dropped (age's identity wraps a zeroize-on-drop x25519 secret).
pub struct MailboxSecret {
    identity: age::x25519::Identity,
    data_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MailboxSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailboxSecret(..)")
    }
}

impl MailboxSecret {
    /// A new random key pair and data key.
    pub fn generate() -> Result<Self, VaultError> {
        Ok(Self {
            identity: age::x25519::Identity::generate(),
            data_key: Zeroizing::new(random_bytes::<32>()?),
        })
    }

    /// The age recipient (`age1…`) that mail for this mailbox is sealed to.
    pub fn public_key(&self) -> String {
        self.identity.to_public().to_string()
    }

    /// A keyed digest of `data` for `purpose`: HMAC-SHA256 (as HKDF's
    /// extract step, RFC 5869 §2.2) under a key derived from the data key
    /// (HKDF-Expand with the purpose as info). For what the server keeps
    /// in the clear to recognise later (a file the upload folder already
    /// sent): without the mailbox key, nobody who guesses a file's content
    /// can confirm it was there.
    pub fn keyed_digest(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let key = crate::wrap::hkdf(
            &self.data_key[..],
            b"athen keyed digest",
            purpose.as_bytes(),
        );
        let (digest, _) = hkdf::Hkdf::<sha2::Sha256>::extract(Some(&key[..]), data);
        digest.into()
    }

    pub(crate) fn identity(&self) -> &age::x25519::Identity {
        &self.identity
    }

    pub(crate) fn data_key(&self) -> &[u8; 32] {
        &self.data_key
    }

    /// Serialises for wrapping: version, data key, identity string.
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let id = self.identity.to_string();
        let id = id.expose_secret().as_bytes();
        let mut out = Zeroizing::new(Vec::with_capacity(1 + 32 + id.len()));
        out.push(SECRET_FORMAT);
        out.extend_from_slice(&self.data_key[..]);
        out.extend_from_slice(id);
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        if bytes.len() < 34 || bytes[0] != SECRET_FORMAT {
            return Err(VaultError::Corrupt("mailbox secret has an unknown format"));
        }
        let mut data_key = Zeroizing::new([0u8; 32]);
        data_key.copy_from_slice(&bytes[1..33]);
        let mut id = String::from_utf8(bytes[33..].to_vec())
            .map_err(|_| VaultError::Corrupt("mailbox identity is not text"))?;
        let identity = age::x25519::Identity::from_str(&id)
            .map_err(|_| VaultError::Corrupt("mailbox identity does not parse"));
        id.zeroize();
        Ok(Self {
            identity: identity?,
            data_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_digests_differ_by_key_and_purpose() {
        let a = MailboxSecret::generate().unwrap();
        let b = MailboxSecret::generate().unwrap();
        assert_eq!(a.keyed_digest("x", b"file"), a.keyed_digest("x", b"file"));
        assert_ne!(a.keyed_digest("x", b"file"), b.keyed_digest("x", b"file"));
        assert_ne!(a.keyed_digest("x", b"file"), a.keyed_digest("y", b"file"));
        assert_ne!(a.keyed_digest("x", b"file"), a.keyed_digest("x", b"other"));
    }

    #[test]
    fn round_trip() {
        let s = MailboxSecret::generate().unwrap();
        let b = s.to_bytes();
        let t = MailboxSecret::from_bytes(&b).unwrap();
        assert_eq!(s.public_key(), t.public_key());
        assert_eq!(s.data_key(), t.data_key());
        assert!(s.public_key().starts_with("age1"));
        assert_eq!(format!("{s:?}"), "MailboxSecret(..)");
    }

    #[test]
    fn garbage_is_refused() {
        assert!(MailboxSecret::from_bytes(b"").is_err());
        assert!(MailboxSecret::from_bytes(&[1u8; 40]).is_err());
        assert!(MailboxSecret::from_bytes(&[2u8; 80]).is_err());
    }
}
