//! ATHEN's keys, and the only place that handles them.
//!
//! - [`MailboxSecret`]: a mailbox's X25519 identity (age) and its 256-bit
//!   data key. Zeroized when dropped.
//! - [`wrap`]: how credentials (password, recovery code, app token) wrap the
//!   mailbox secret, so that any one of them unlocks and none is stored.
//! - [`seal`]: sealing to a mailbox's public key (needs no secret) and
//!   opening with the unlocked secret; data-key encryption of stored mail.
//! - [`auth`]: checking a credential with equal answers and timing for
//!   unknown users, and rate limits.
//! - [`totp`]: the key of two-step sign-in (RFC 6238 codes), sealed with
//!   the mailbox data key.
//! - [`sessions`]: unlocked mailboxes in memory, with idle and absolute
//!   timeouts; the keys go when the last session of a mailbox ends.

pub mod accounts;
pub mod auth;
pub mod codes;
pub mod keys;
pub mod provision;
pub mod queue_key;
pub mod seal;
pub mod sessions;
pub mod totp;
pub mod wrap;

pub use keys::MailboxSecret;
pub use queue_key::QueueKey;
pub use wrap::KdfParams;

use thiserror::Error;

/// Why a vault operation failed.
#[derive(Debug, Error)]
pub enum VaultError {
    /// The credential did not unlock (wrong password, unknown user, revoked
    /// token). Deliberately says nothing about which.
    #[error("the user name or password is not right")]
    BadCredential,
    /// Too many failed attempts for this name or address; try later.
    #[error("too many failed attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    /// The password was right, but this login also needs the code from its
    /// authenticator app; mail programs use an app token instead.
    #[error(
        "this login signs in in two steps: enter the code from your authenticator app, or use an app token in mail programs"
    )]
    SecondStepNeeded,
    /// This credential does not open this door (an app token in the web
    /// app, or one made for another door); the text says what to use.
    #[error("{0}")]
    NotThisDoor(&'static str),
    /// The one-time code was not right, or was already used.
    #[error("the code is not right, or was used already; wait for the next one and try again")]
    BadCode,
    /// The account may not log in (suspended or closed).
    #[error("this account is {0}; contact the server administrator")]
    AccountNotActive(String),
    /// Encrypted data failed its integrity check: it was damaged, truncated
    /// or tampered with. Nothing of it is returned.
    #[error("encrypted data is damaged or has been tampered with ({0})")]
    Corrupt(&'static str),
    /// A parameter is out of range (e.g. Argon2 memory).
    #[error("invalid parameter: {0}")]
    Parameter(String),
    /// The operating system gave no randomness.
    #[error("no randomness available: {0}")]
    Random(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] athen_core::StoreError),
}

/// Fills a buffer from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], VaultError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| VaultError::Random(e.to_string()))?;
    Ok(b)
}
