//! Message logic shared by every front door (SMTP, IMAP, web, API).
//!
//! The mailbox's path (DESIGN.md, "How a message flows"):
//!
//! - [`spool::deliver`]: seal a raw message to a mailbox's public key and
//!   write it durably; needs no secret.
//! - [`unspool::unspool_mailbox`]: with the unlocked secret, merge the audit
//!   events kept while locked, then open each spool entry: a receipt for
//!   mail sent from here goes into the trail ([`receipts`]), a letter is
//!   converted for the clinical system ([`conversion`]), and the message is
//!   re-encrypted with the mailbox data key into the mailbox store with its
//!   trail entries, in one transaction.
//! - [`live`]: while a mailbox stays unlocked, a worker of its own
//!   unspools at once what arrives (the newest page first at log-in).
//! - [`read`]: list and read stored messages of an unlocked mailbox;
//!   [`mdn`]: what opening one does (the "read" entry, the read receipt).
//! - [`audit`]: the per-mailbox audit trail ([`status`]: where each
//!   letter got to, for folder lists); [`submit`]: our users' mail.

pub mod audit;
pub mod conversion;
pub mod header;
pub mod import;
pub mod live;
pub mod mdn;
pub mod meta;
pub mod read;
pub mod receipts;
pub mod spool;
pub mod status;
pub mod submit;
pub mod unspool;

use athen_core::StoreError;
use athen_vault::VaultError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum MailError {
    #[error("the message is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("the message is empty")]
    Empty,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// Blob key of a spool entry: `spool/<mailbox>/<random>`.
pub(crate) fn spool_key(mailbox: athen_core::MailboxId) -> Result<String, StoreError> {
    Ok(format!(
        "spool/{}/{}",
        mailbox.0,
        athen_store::random_hex(16)?
    ))
}

/// Blob key of a message in the outbound queue: `queue/<random>`.
pub fn queue_key() -> Result<String, StoreError> {
    Ok(format!("queue/{}", random_id()?))
}

/// A random identifier (128 bits, hex), e.g. for an ENVID or Message-ID.
pub fn random_id() -> Result<String, StoreError> {
    athen_store::random_hex(16)
}

/// Blob key of a stored message: `mail/<mailbox>/<random>`.
pub(crate) fn mail_key(mailbox: athen_core::MailboxId) -> Result<String, StoreError> {
    Ok(format!(
        "mail/{}/{}",
        mailbox.0,
        athen_store::random_hex(16)?
    ))
}
