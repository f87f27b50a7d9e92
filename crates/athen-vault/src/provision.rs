//! Making the keys and credentials of new mailboxes, logins and tokens.

use crate::VaultError;
use crate::codes;
use crate::keys::MailboxSecret;
use crate::wrap::{self, KdfParams};
use athen_core::Invalid;
use athen_core::account::{CredentialKind, Doors, NewCredential};
use zeroize::Zeroizing;

/// Shortest password accepted. Long passphrases are encouraged; composition
/// rules are not imposed (NIST SP 800-63B §5.1.1.2).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted, so nobody can make Argon2 hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password, with a reason a person understands.
pub fn check_new_password(password: &str) -> Result<(), Invalid> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Invalid::new(
            "Password",
            format!(
                "must be at least {MIN_PASSWORD_CHARS} characters; a few ordinary words make a good one"
            ),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Invalid::new(
            "Password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    if password.trim() != password {
        return Err(Invalid::new(
            "Password",
            "must not begin or end with a space",
        ));
    }
    Ok(())
}

/// Keys and first credentials of a new mailbox.
pub struct NewMailbox {
    pub secret: MailboxSecret,
    pub public_key: String,
    /// Password and recovery-code credentials for the owner's login.
    pub credentials: Vec<NewCredential>,
    /// Shown to the person once, then forgotten by the server.
    pub recovery_code: Zeroizing<String>,
}

/// Makes a new mailbox key pair and data key, wrapped under the password
/// and under a new recovery code.
pub fn new_mailbox(password: &str, params: KdfParams) -> Result<NewMailbox, VaultError> {
    let secret = MailboxSecret::generate()?;
    let recovery_code = codes::new_recovery_code()?;
    let credentials = vec![
        password_credential(&secret, password, params)?,
        NewCredential {
            kind: CredentialKind::RecoveryCode,
            label: String::new(),
            wrapped: wrap::wrap_with_random(&secret, &codes::recovery_code_bytes(&recovery_code))?,
            doors: Doors::NONE,
        },
    ];
    Ok(NewMailbox {
        public_key: secret.public_key(),
        secret,
        credentials,
        recovery_code,
    })
}

/// A password credential over an unlocked secret.
pub fn password_credential(
    secret: &MailboxSecret,
    password: &str,
    params: KdfParams,
) -> Result<NewCredential, VaultError> {
    Ok(NewCredential {
        kind: CredentialKind::Password,
        label: String::new(),
        wrapped: wrap::wrap_with_password(secret, password.as_bytes(), params)?,
        doors: Doors::PASSWORD,
    })
}

/// A new recovery code credential over an unlocked secret.
pub fn recovery_credential(
    secret: &MailboxSecret,
) -> Result<(NewCredential, Zeroizing<String>), VaultError> {
    let code = codes::new_recovery_code()?;
    Ok((
        NewCredential {
            kind: CredentialKind::RecoveryCode,
            label: String::new(),
            wrapped: wrap::wrap_with_random(secret, &codes::recovery_code_bytes(&code))?,
            doors: Doors::NONE,
        },
        code,
    ))
}

/// A new app token credential that opens `doors`. The token the person is
/// given is [`codes::format_app_token`] of the stored credential's id and
/// the secret.
pub fn app_token_credential(
    secret: &MailboxSecret,
    label: &str,
    doors: Doors,
) -> Result<(NewCredential, Zeroizing<String>), VaultError> {
    let token_secret = codes::new_token_secret()?;
    Ok((
        NewCredential {
            kind: CredentialKind::AppToken,
            label: label.to_string(),
            wrapped: wrap::wrap_with_random(secret, token_secret.as_bytes())?,
            // Never the web app, whatever the caller asked.
            doors: Doors::from_bits(i64::from(doors.bits() & Doors::ANY_TOKEN.bits())),
        },
        token_secret,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password(" leading space ok?").is_err());
        assert!(check_new_password("correct horse battery").is_ok());
        assert!(check_new_password(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn new_mailbox_opens_with_both_credentials() {
        let p = KdfParams {
            memory_kib: 7168,
            iterations: 1,
            parallelism: 1,
        };
        let m = new_mailbox("correct horse battery", p).unwrap();
        let pw = &m.credentials[0];
        let rc = &m.credentials[1];
        assert!(wrap::unwrap(&pw.wrapped, b"correct horse battery", &m.public_key).is_ok());
        let code = codes::recovery_code_bytes(&m.recovery_code);
        assert!(wrap::unwrap(&rc.wrapped, &code, &m.public_key).is_ok());
    }
}
