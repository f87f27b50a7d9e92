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
    let ids = deliver_to_all(
        blobs,
        spool,
        std::slice::from_ref(mailbox),
        raw,
        max_size,
        now,
    )
    .await?;
    ids.into_iter()
        .next()
        .ok_or_else(|| MailError::Store(StoreError::Io("no spool entry was made".into())))
}

/// Seals `raw` to each mailbox and spools every copy durably; the copies
/// become visible together (one transaction) or not at all.
pub async fn deliver_to_all(
    blobs: &dyn BlobStore,
    spool: &dyn SpoolStore,
    mailboxes: &[Mailbox],
    raw: &[u8],
    max_size: usize,
    now: UnixTime,
) -> Result<Vec<SpoolId>, MailError> {
    if raw.is_empty() {
        return Err(MailError::Empty);
    }
    if raw.len() > max_size {
        return Err(MailError::TooLarge {
            size: raw.len(),
            limit: max_size,
        });
    }
    let mut written: Vec<(athen_core::MailboxId, String)> = Vec::with_capacity(mailboxes.len());
    let result = async {
        for mailbox in mailboxes {
            if mailbox.retired_at.is_some() {
                return Err(MailError::Store(StoreError::State(format!(
                    "mailbox {} is retired",
                    mailbox.id
                ))));
            }
            let sealed = athen_vault::seal::seal_to(&mailbox.public_key, raw)?;
            let key = spool_key(mailbox.id)?;
            blobs.put(&key, &sealed).await?;
            written.push((mailbox.id, key));
        }
        Ok(spool
            .add_spool_entries(&written, raw.len() as u64, now)
            .await?)
    }
    .await;
    if result.is_err() {
        // Best effort: the orphans are unreadable anyway, but don't leave them.
        for (_, key) in &written {
            let _ = blobs.delete(key).await;
        }
    }
    result
}
