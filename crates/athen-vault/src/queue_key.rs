//! The server's queue key. The outbound delivery worker must read queued
//! mail without any user's key, so queued bodies are encrypted with this one
//! server-wide key (XChaCha20-Poly1305, the blob key as associated data) and
//! deleted after final delivery. Whoever holds the data directory's key file
//! can read mail that is waiting to leave: the threat model says so.

use crate::VaultError;
use crate::wrap::{aead_open, aead_seal};
use zeroize::{Zeroize, Zeroizing};

const QUEUE_MAGIC: &[u8; 4] = b"AQB1";
const AAD_PREFIX: &[u8] = b"athen-queue-v1\0";

pub struct QueueKey([u8; 32]);

impl Drop for QueueKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl QueueKey {
    pub fn generate() -> Result<Self, VaultError> {
        Ok(Self(crate::random_bytes::<32>()?))
    }

    /// From the 32 bytes of a key file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| VaultError::Corrupt("the queue key file must hold exactly 32 bytes"))?;
        Ok(Self(key))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Encrypts a queued message stored under `blob_key`.
    pub fn encrypt(&self, blob_key: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let body = aead_seal(&self.0, &aad(blob_key), plaintext)?;
        let mut out = Vec::with_capacity(QUEUE_MAGIC.len() + body.len());
        out.extend_from_slice(QUEUE_MAGIC);
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub fn decrypt(&self, blob_key: &str, data: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let body = data
            .strip_prefix(QUEUE_MAGIC.as_slice())
            .ok_or(VaultError::Corrupt("queued message has an unknown format"))?;
        aead_open(&self.0, &aad(blob_key), body).map_err(|_| {
            VaultError::Corrupt("queued message is damaged, truncated or from another server")
        })
    }
}

fn aad(blob_key: &str) -> Vec<u8> {
    let mut aad = AAD_PREFIX.to_vec();
    aad.extend_from_slice(blob_key.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding_to_the_blob_key() {
        let key = QueueKey::generate().unwrap();
        let sealed = key.encrypt("queue/1", b"letter").unwrap();
        assert_eq!(&key.decrypt("queue/1", &sealed).unwrap()[..], b"letter");
        assert!(key.decrypt("queue/2", &sealed).is_err());
        let other = QueueKey::generate().unwrap();
        assert!(other.decrypt("queue/1", &sealed).is_err());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(key.decrypt("queue/1", &damaged).is_err());
        assert!(QueueKey::from_bytes(&[0; 31]).is_err());
    }
}
