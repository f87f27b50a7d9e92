//! Sealing mail to a mailbox, and encrypting what the mailbox stores.
//!
//! - Spool: [`seal_to`] needs only the mailbox's public key, so the SMTP
//!   listener can accept mail for a locked mailbox and still be unable to
//!   read it. The format is age (X25519, ChaCha20-Poly1305 STREAM), which
//!   detects truncation as well as tampering.
//! - Mailbox store: [`encrypt_stored`] uses the mailbox's data key
//!   (XChaCha20-Poly1305) with the blob's key as associated data, so blobs
//!   cannot be swapped between messages unnoticed.

use crate::VaultError;
use crate::keys::MailboxSecret;
use crate::wrap::{aead_open, aead_seal};
use std::str::FromStr;
use zeroize::Zeroizing;

const STORED_MAGIC: &[u8; 4] = b"ASB1";

/// Seals a message to a mailbox's public key (`age1…`).
pub fn seal_to(public_key: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    let recipient = age::x25519::Recipient::from_str(public_key)
        .map_err(|_| VaultError::Corrupt("mailbox public key does not parse"))?;
    age::encrypt(&recipient, plaintext)
        .map_err(|e| VaultError::Parameter(format!("sealing failed: {e}")))
}

/// Opens a sealed spool entry with the unlocked mailbox secret.
pub fn open_sealed(
    secret: &MailboxSecret,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    age::decrypt(secret.identity(), sealed)
        .map(Zeroizing::new)
        .map_err(|_| {
            VaultError::Corrupt("sealed message is damaged, truncated or not for this mailbox")
        })
}

fn stored_aad(purpose: &str, key: &str) -> Vec<u8> {
    let mut aad = b"athen-stored-v1\0".to_vec();
    aad.extend_from_slice(purpose.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key.as_bytes());
    aad
}

/// Encrypts something for the mailbox store (`purpose` is e.g. "body" or
/// "meta", `key` the blob key or message id it belongs to).
pub fn encrypt_stored(
    secret: &MailboxSecret,
    purpose: &str,
    key: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let body = aead_seal(secret.data_key(), &stored_aad(purpose, key), plaintext)?;
    let mut out = Vec::with_capacity(STORED_MAGIC.len() + body.len());
    out.extend_from_slice(STORED_MAGIC);
    out.extend_from_slice(&body);
    Ok(out)
}

/// A keyed digest of `data` under the mailbox's data key (HKDF-SHA256 as
/// a PRF, separated by `purpose`): equal inputs give equal digests, but
/// without the unlocked mailbox nobody can tell what went in, not even by
/// trying every name and birth date. Used to look things up (a patient in
/// the register) without storing them.
pub fn keyed_digest(secret: &MailboxSecret, purpose: &str, data: &[u8]) -> [u8; 32] {
    let mut info = Vec::with_capacity(purpose.len() + 1 + data.len());
    info.extend_from_slice(purpose.as_bytes());
    info.push(0);
    info.extend_from_slice(data);
    let out = *crate::wrap::hkdf(secret.data_key(), b"athen keyed digest v1", &info);
    zeroize::Zeroize::zeroize(&mut info);
    out
}

/// Decrypts what [`encrypt_stored`] made; damage, truncation, a different
/// mailbox or a swapped blob all give [`VaultError::Corrupt`].
pub fn decrypt_stored(
    secret: &MailboxSecret,
    purpose: &str,
    key: &str,
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let body = data
        .strip_prefix(STORED_MAGIC.as_slice())
        .ok_or(VaultError::Corrupt("stored message has an unknown format"))?;
    aead_open(secret.data_key(), &stored_aad(purpose, key), body).map_err(|_| {
        VaultError::Corrupt("stored message is damaged, truncated or not from this mailbox")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seal_needs_only_the_public_key() {
        let s = MailboxSecret::generate().unwrap();
        let sealed = seal_to(&s.public_key(), b"Re: Jane CITIZEN DOB 01/02/1960").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"CITIZEN"));
        assert_eq!(
            &open_sealed(&s, &sealed).unwrap()[..],
            b"Re: Jane CITIZEN DOB 01/02/1960"
        );
        let other = MailboxSecret::generate().unwrap();
        assert!(open_sealed(&other, &sealed).is_err());
    }

    #[test]
    fn truncated_sealed_message_is_detected() {
        let s = MailboxSecret::generate().unwrap();
        let msg = vec![b'x'; 200_000];
        let sealed = seal_to(&s.public_key(), &msg).unwrap();
        for cut in [
            0,
            10,
            100,
            sealed.len() / 2,
            sealed.len() - 17,
            sealed.len() - 1,
        ] {
            assert!(
                matches!(open_sealed(&s, &sealed[..cut]), Err(VaultError::Corrupt(_))),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn stored_blobs_cannot_be_swapped() {
        let s = MailboxSecret::generate().unwrap();
        let a = encrypt_stored(&s, "body", "mail/1/a", b"letter a").unwrap();
        assert_eq!(
            &decrypt_stored(&s, "body", "mail/1/a", &a).unwrap()[..],
            b"letter a"
        );
        assert!(decrypt_stored(&s, "body", "mail/1/b", &a).is_err());
        assert!(decrypt_stored(&s, "meta", "mail/1/a", &a).is_err());
    }

    #[test]
    fn bad_public_key_is_an_error_not_a_panic() {
        assert!(seal_to("age1notakey", b"x").is_err());
        assert!(seal_to("", b"x").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn opening_garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let s = MailboxSecret::generate().unwrap();
            prop_assert!(open_sealed(&s, &data).is_err());
            prop_assert!(decrypt_stored(&s, "body", "k", &data).is_err());
        }

        #[test]
        fn flipping_any_bit_of_a_stored_blob_is_detected(i in 0usize..100, bit in 0u8..8) {
            let s = MailboxSecret::generate().unwrap();
            let mut b = encrypt_stored(&s, "body", "k", &[7u8; 40]).unwrap();
            let i = i % b.len();
            b[i] ^= 1 << bit;
            prop_assert!(decrypt_stored(&s, "body", "k", &b).is_err());
        }
    }
}
