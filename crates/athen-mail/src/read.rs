//! Reading an unlocked mailbox.

use crate::MailError;
use crate::meta::MessageMeta;
use athen_core::mailbox::{Folder, StoredMessage};
use athen_core::store::{BlobStore, MailboxStore, PageCursor};
use athen_core::{MailboxId, StoreError};
use athen_vault::MailboxSecret;
use athen_vault::seal::decrypt_stored;
use zeroize::Zeroizing;

/// A message row with its decrypted list fields.
#[derive(Debug, Clone)]
pub struct ListedMessage {
    pub message: StoredMessage,
    pub meta: MessageMeta,
}

/// Finds a folder by name (case-insensitive, as IMAP treats INBOX).
pub async fn folder(
    store: &dyn MailboxStore,
    mailbox: MailboxId,
    name: &str,
) -> Result<Folder, MailError> {
    store
        .folders(mailbox)
        .await?
        .into_iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| MailError::Store(StoreError::NotFound(format!("folder {name}"))))
}

/// One page of a folder, newest first, with list fields decrypted.
pub async fn page(
    store: &dyn MailboxStore,
    mailbox: MailboxId,
    folder: &Folder,
    secret: &MailboxSecret,
    before: Option<PageCursor>,
    limit: u32,
) -> Result<Vec<ListedMessage>, MailError> {
    store
        .messages_page(mailbox, folder.id, before, limit)
        .await?
        .into_iter()
        .map(|m| with_meta(m, secret))
        .collect()
}

/// A message row with its list fields decrypted.
pub fn with_meta(m: StoredMessage, secret: &MailboxSecret) -> Result<ListedMessage, MailError> {
    let plain = decrypt_stored(secret, "meta", &m.blob_key, &m.sealed_meta)?;
    let meta: MessageMeta = serde_json::from_slice(&plain)
        .map_err(|e| StoreError::Corrupt(format!("message {} metadata: {e}", m.id)))?;
    Ok(ListedMessage { message: m, meta })
}

/// Lists a folder, decrypting each message's list fields.
pub async fn list(
    store: &dyn MailboxStore,
    mailbox: MailboxId,
    folder: &Folder,
    secret: &MailboxSecret,
) -> Result<Vec<ListedMessage>, MailError> {
    store
        .messages(mailbox, folder.id)
        .await?
        .into_iter()
        .map(|m| with_meta(m, secret))
        .collect()
}

/// The whole raw message, decrypted.
pub async fn raw_message(
    blobs: &dyn BlobStore,
    secret: &MailboxSecret,
    message: &StoredMessage,
) -> Result<Zeroizing<Vec<u8>>, MailError> {
    let data = blobs.get(&message.blob_key).await?;
    Ok(decrypt_stored(secret, "body", &message.blob_key, &data)?)
}
