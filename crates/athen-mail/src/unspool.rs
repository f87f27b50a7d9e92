//! Moving spooled mail into the mailbox store once the mailbox is unlocked.
//!
//! Order of steps, chosen so that a crash at any point neither loses nor
//! duplicates a message:
//!
//! 1. open the sealed spool blob (in memory);
//! 2. write the message re-encrypted with the data key under a new blob key;
//! 3. in one transaction, delete the spool row, add the message row and
//!    the "received" entry of the audit trail;
//! 4. delete the spool blob.
//!
//! Before the spool, the audit events kept while the mailbox was locked
//! are merged into its trail (one transaction: merged and removed, or
//! neither).
//!
//! A crash before 3 leaves the spool entry (it is unspooled again later; the
//! blob from 2 is an unreferenced, encrypted orphan). A crash after 3 leaves
//! only an orphaned sealed blob. Neither is ever visible as mail.

use crate::audit::{EventKind, TrailEvent};
use crate::meta;
use crate::{MailError, mail_key};
use athen_core::audit::ChainHash;
use athen_core::mailbox::{NewStoredMessage, SpecialFolder};
use athen_core::store::{AuditStore, BlobStore, MailboxStore, SpoolStore};
use athen_core::{MailboxId, SpoolId, StoreError};
use athen_vault::seal::{encrypt_stored, open_sealed};
use athen_vault::{MailboxSecret, VaultError};

/// What one run of the unspooler did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnspoolReport {
    pub moved: usize,
    /// Audit events kept while the mailbox was locked, now in its trail.
    pub audit_merged: usize,
    /// Spool entries that could not be opened (damaged or truncated). They
    /// are left in the spool, untouched, for the administrator to look at.
    pub damaged: Vec<SpoolId>,
}

/// Unspools every waiting message of a mailbox into its Inbox.
pub async fn unspool_mailbox(
    blobs: &dyn BlobStore,
    spool: &dyn SpoolStore,
    store: &dyn MailboxStore,
    audit: &dyn AuditStore,
    mailbox: MailboxId,
    secret: &MailboxSecret,
) -> Result<UnspoolReport, MailError> {
    let inbox = store
        .folders(mailbox)
        .await?
        .into_iter()
        .find(|f| f.name == SpecialFolder::Inbox.name())
        .ok_or_else(|| StoreError::Corrupt(format!("mailbox {mailbox} has no Inbox")))?;
    let mut report = UnspoolReport {
        audit_merged: crate::audit::merge_pending(audit, mailbox, secret).await?,
        ..UnspoolReport::default()
    };
    for entry in spool.spool_entries(mailbox).await? {
        let sealed = match blobs.get(&entry.blob_key).await {
            Ok(b) => b,
            Err(StoreError::NotFound(_)) => {
                tracing::error!(spool = %entry.id, "spool entry has no blob");
                report.damaged.push(entry.id);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let raw = match open_sealed(secret, &sealed) {
            Ok(r) => r,
            Err(VaultError::Corrupt(why)) => {
                tracing::error!(spool = %entry.id, why, "spool entry cannot be opened; left in place");
                report.damaged.push(entry.id);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let key = mail_key(mailbox)?;
        let meta = meta::extract(&raw);
        let meta_json = zeroize::Zeroizing::new(
            serde_json::to_vec(&meta)
                .map_err(|e| StoreError::Io(format!("encode metadata: {e}")))?,
        );
        blobs
            .put(&key, &encrypt_stored(secret, "body", &key, &raw)?)
            .await?;
        let received = TrailEvent {
            message_id: meta.message_id.clone(),
            correspondent: meta.from.first().cloned(),
            ..TrailEvent::new(EventKind::Received)
        };
        let at = entry.received_at;
        let seal = |_: usize, seq: u64, prev: &ChainHash| {
            crate::audit::seal_entry(secret, mailbox, (seq, at, prev), &received)
        };
        spool
            .unspool(
                entry.id,
                NewStoredMessage {
                    mailbox_id: mailbox,
                    folder_id: inbox.id,
                    size: raw.len() as u64,
                    received_at: entry.received_at,
                    flags: 0,
                    sealed_meta: encrypt_stored(secret, "meta", &key, &meta_json)?,
                    blob_key: key,
                },
                &[at],
                &seal,
            )
            .await?;
        if let Err(e) = blobs.delete(&entry.blob_key).await {
            tracing::warn!(spool = %entry.id, error = %e, "sealed blob left behind after unspool");
        }
        report.moved += 1;
    }
    Ok(report)
}
