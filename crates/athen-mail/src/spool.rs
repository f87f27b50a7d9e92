//! Writing incoming mail to a mailbox's spool.
//!
//! The message is sealed to the mailbox's public key in memory and written
//! durably (blob fsynced, then the spool row committed with a full fsync)
//! before this returns, so an SMTP `250` sent after it is a promise kept
//! even across `kill -9` or power loss. If either write fails, nothing
//! becomes visible: the row is only added after the blob is safe, and a
//! blob without a row is never shown.

use crate::{MailError, spool_key};
use athen_core::clock::UnixTime;
use athen_core::mailbox::Mailbox;
use athen_core::store::{BlobStore, SpoolStore};
use athen_core::{SpoolId, StoreError};

/// Seals `raw` to `mailbox` and spools it durably.
pub async fn deliver(
    blobs: &dyn BlobStore,
    spool: &dyn SpoolStore,
    mailbox: &Mailbox,
    raw: &[u8],
    max_size: usize,
    now: UnixTime,
) -> Result<SpoolId, MailError> {
    if raw.is_empty() {
        return Err(MailError::Empty);
    }
    if raw.len() > max_size {
        return Err(MailError::TooLarge {
            size: raw.len(),
            limit: max_size,
        });
    }
    if mailbox.retired_at.is_some() {
        return Err(MailError::Store(StoreError::State(format!(
            "mailbox {} is retired",
            mailbox.id
        ))));
    }
    let sealed = athen_vault::seal::seal_to(&mailbox.public_key, raw)?;
    let key = spool_key(mailbox.id)?;
    blobs.put(&key, &sealed).await?;
    match spool
        .add_spool_entry(mailbox.id, &key, raw.len() as u64, now)
        .await
    {
        Ok(id) => Ok(id),
        Err(e) => {
            // Best effort: the orphan is unreadable anyway, but don't leave it.
            let _ = blobs.delete(&key).await;
            Err(e.into())
        }
    }
}
