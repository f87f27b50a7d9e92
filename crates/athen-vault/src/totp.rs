//! Two-step sign-in: the one-time codes of an authenticator app (RFC 6238
//! TOTP with HMAC-SHA-1, 6 digits and 30-second steps, the parameters every
//! app supports; one step of clock difference either way, §5.2).
//!
//! The code arithmetic is totp-rs's. What is ATHEN's: the key is made
//! here from the operating system's randomness (160 bits, RFC 4226 §4),
//! sealed with the mailbox data key (so it can be read only after the
//! password has unlocked the mailbox), and each code is accepted once
//! ([`athen_core::store::CredentialStore::use_totp_step`]).

use crate::seal::{decrypt_stored, encrypt_stored};
use crate::{MailboxSecret, VaultError};
use athen_core::LoginId;
use athen_core::clock::UnixTime;
use totp_rs::{Builder, Secret, Totp};
use zeroize::Zeroizing;

/// The bytes of a key: 160 bits, as RFC 4226 §4 recommends.
const KEY_BYTES: usize = 20;

/// A login's TOTP key. Zeroized when dropped (totp-rs zeroizes its copy).
pub struct TotpKey {
    totp: Totp,
}

impl std::fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpKey(…)")
    }
}

impl TotpKey {
    fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        if bytes.len() != KEY_BYTES {
            return Err(VaultError::Corrupt("a two-step key has the wrong length"));
        }
        let totp = Builder::new()
            .with_secret(Secret::new(bytes.to_vec().into_boxed_slice()))
            .build()
            .map_err(|e| VaultError::Parameter(format!("two-step key: {e}")))?;
        Ok(TotpKey { totp })
    }

    /// A new random key.
    pub fn generate() -> Result<Self, VaultError> {
        let bytes = Zeroizing::new(crate::random_bytes::<KEY_BYTES>()?);
        Self::from_bytes(&bytes[..])
    }

    /// The key as an app shows it and a person types it (RFC 4648 base32);
    /// spaces and case do not matter.
    pub fn from_base32(text: &str) -> Result<Self, VaultError> {
        let compact: Zeroizing<String> = Zeroizing::new(
            text.chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect::<String>()
                .to_ascii_uppercase(),
        );
        let secret = Secret::try_from_base32(compact.as_str())
            .map_err(|_| VaultError::Parameter("the key is not a base32 text".into()))?;
        Self::from_bytes(secret.as_bytes())
    }

    /// The key in base32, as authenticator apps take it.
    pub fn base32(&self) -> Zeroizing<String> {
        Zeroizing::new(self.totp.secret().to_base32())
    }

    /// The `otpauth://totp/…` address a QR code carries to the app (the
    /// Key URI Format of Google Authenticator, which the others follow):
    /// the label "Issuer:account", the key, and the parameters spelled out.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Zeroizing<String> {
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        Zeroizing::new(format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
            enc(issuer),
            enc(account),
            self.base32().as_str(),
            enc(issuer)
        ))
    }

    /// The 30-second step whose code `code` is (spaces ignored), within
    /// one step of `now`; `None` when it is not a code of this key now.
    pub fn check(&self, code: &str, now: UnixTime) -> Option<i64> {
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let now = u64::try_from(now).ok()?;
        self.totp
            .check(&digits, now)
            .and_then(|step| i64::try_from(step).ok())
    }

    /// The code of `now` (for tests and the enrolment check).
    pub fn code_at(&self, now: UnixTime) -> String {
        self.totp
            .generate(u64::try_from(now).unwrap_or(0))
            .to_string()
    }

    /// The key sealed with the mailbox data key, bound to its login.
    pub fn seal(&self, secret: &MailboxSecret, login: LoginId) -> Result<Vec<u8>, VaultError> {
        encrypt_stored(
            secret,
            "totp",
            &binding(login),
            self.totp.secret().as_bytes(),
        )
    }

    /// Opens a key sealed by [`TotpKey::seal`].
    pub fn open(secret: &MailboxSecret, login: LoginId, sealed: &[u8]) -> Result<Self, VaultError> {
        let bytes = decrypt_stored(secret, "totp", &binding(login), sealed)?;
        Self::from_bytes(&bytes)
    }
}

impl TotpKey {
    /// The key of an operator, who has no mailbox: sealed with the
    /// server's key (as queued mail is), bound to the operator. Whoever
    /// holds the server's key file can read it; the database alone cannot.
    pub fn seal_for_operator(
        &self,
        server: &crate::QueueKey,
        operator: athen_core::ids::OperatorId,
    ) -> Result<Vec<u8>, VaultError> {
        server.encrypt(
            &format!("operator-totp/{}", operator.0),
            self.totp.secret().as_bytes(),
        )
    }

    /// Opens a key sealed by [`TotpKey::seal_for_operator`].
    pub fn open_for_operator(
        server: &crate::QueueKey,
        operator: athen_core::ids::OperatorId,
        sealed: &[u8],
    ) -> Result<Self, VaultError> {
        let bytes = server.decrypt(&format!("operator-totp/{}", operator.0), sealed)?;
        Self::from_bytes(&bytes)
    }
}

fn binding(login: LoginId) -> String {
    format!("login-{}", login.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (key "12345678901234567890"), last
    /// six digits.
    #[test]
    fn codes_match_the_rfc_test_vectors() {
        let key = TotpKey::from_bytes(b"12345678901234567890").unwrap();
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(key.code_at(t), code, "at {t}");
            assert_eq!(key.check(code, t), Some(t / 30));
        }
    }

    #[test]
    fn a_code_is_good_for_one_step_either_side_and_no_more() {
        let key = TotpKey::generate().unwrap();
        let t = 1_800_000_015;
        let code = key.code_at(t);
        assert_eq!(key.check(&code, t + 30), Some(t / 30));
        assert_eq!(key.check(&code, t - 30), Some(t / 30));
        assert_eq!(key.check(&code, t + 60), None);
        assert_eq!(
            key.check(&format!("{} {}", &code[..3], &code[3..]), t),
            Some(t / 30)
        );
        assert_eq!(key.check("12345", t), None);
        assert_eq!(key.check("abcdef", t), None);
    }

    #[test]
    fn the_key_round_trips_through_base32_and_its_seal() {
        let key = TotpKey::generate().unwrap();
        let typed = key.base32().to_lowercase();
        let spaced: String = typed
            .chars()
            .collect::<Vec<_>>()
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ");
        let again = TotpKey::from_base32(&spaced).unwrap();
        assert_eq!(again.code_at(1_900_000_000), key.code_at(1_900_000_000));
        let secret = MailboxSecret::generate().unwrap();
        let sealed = key.seal(&secret, LoginId(7)).unwrap();
        let opened = TotpKey::open(&secret, LoginId(7), &sealed).unwrap();
        assert_eq!(opened.code_at(5), key.code_at(5));
        assert!(TotpKey::open(&secret, LoginId(8), &sealed).is_err());
        let uri = key.otpauth_uri("ATHEN Northside", "jane@athen.localhost");
        assert!(uri.starts_with("otpauth://totp/ATHEN%20Northside:jane@athen.localhost?secret="));
        assert!(TotpKey::from_base32("not base32!").is_err());
    }
}
