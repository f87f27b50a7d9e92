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

/// The words of `text`, as the directory finds them: runs of letters and
/// digits, case and accents ignored, so that "jane@athen.localhost" is the
/// words jane, athen and localhost, and Müller is found by "muller".
fn words(text: &str) -> impl Iterator<Item = String> {
    athen_core::directory::search_words(text).into_iter()
}

/// What a mailbox search looks at: subject (with the patient it names in
/// the ATHEN syntax) and correspondents. Bodies are not searched: each is
/// sealed on its own, and opening every letter to search it would also
/// count as reading them.
fn searched_words(meta: &MessageMeta) -> Vec<String> {
    let mut out: Vec<String> = meta
        .subject
        .as_deref()
        .map(words)
        .into_iter()
        .flatten()
        .collect();
    for a in meta.from.iter().chain(&meta.to) {
        out.extend(words(a));
    }
    out
}

/// The letters of every folder where each word of `query` begins a word
/// of the subject or the correspondents (case does not matter: "smi"
/// finds SMITH, "mary" does not find "summary"), newest first, at most
/// `limit`. A query without words finds nothing.
pub async fn search(
    store: &dyn MailboxStore,
    mailbox: MailboxId,
    secret: &MailboxSecret,
    query: &str,
    limit: usize,
) -> Result<Vec<(Folder, ListedMessage)>, MailError> {
    let wanted = athen_core::directory::typed_words(query);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for folder in store.folders(mailbox).await? {
        for m in store.messages(mailbox, folder.id).await? {
            let listed = with_meta(m, secret)?;
            let have = searched_words(&listed.meta);
            if wanted
                .iter()
                .all(|w| have.iter().any(|h| h.starts_with(w.as_str())))
            {
                found.push((folder.clone(), listed));
            }
        }
    }
    found.sort_by_key(|(_, m)| {
        std::cmp::Reverse((m.message.received_at, m.message.arrival, m.message.uid))
    });
    found.truncate(limit);
    Ok(found)
}
