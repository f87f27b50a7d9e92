//! The folders' IMAP numbering (UID, flags, mod-sequence of every
//! message), kept in memory between sessions so that SELECT of a large
//! folder reads only what changed since it was last read (RFC 7162's
//! mod-sequences say what that is). It holds no secret: these numbers
//! are plaintext in the database too (DESIGN.md, "Keys and what is
//! plaintext"), so it may outlive a locked mailbox. Bounded: the folders
//! used longest ago are dropped when it holds too many messages.

use athen_core::FolderId;
use athen_core::mailbox::{Folder, IndexEntry};
use athen_core::store::{MailboxStore, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

struct Cached {
    entries: Arc<Vec<IndexEntry>>,
    /// The entries show every change up to this mod-sequence.
    modseq: u64,
    used: u64,
}

#[derive(Default)]
struct Inner {
    folders: HashMap<FolderId, Cached>,
    total: usize,
    tick: u64,
}

pub struct IndexCache {
    inner: Mutex<Inner>,
    max_entries: usize,
}

impl IndexCache {
    /// A cache of at most `max_entries` messages in all (24 bytes each).
    pub fn new(max_entries: usize) -> IndexCache {
        IndexCache {
            inner: Mutex::new(Inner::default()),
            max_entries,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update below is a single insert or remove.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The folder's messages by UID, as of at least `folder.highest_modseq`
    /// (read before this call).
    pub async fn index(
        &self,
        store: &dyn MailboxStore,
        folder: &Folder,
    ) -> StoreResult<Vec<IndexEntry>> {
        let cached = {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            inner.folders.get_mut(&folder.id).map(|c| {
                c.used = tick;
                (c.entries.clone(), c.modseq)
            })
        };
        let entries = match cached {
            Some((e, m)) if m == folder.highest_modseq => return Ok((*e).clone()),
            Some((e, m)) if m < folder.highest_modseq => {
                let mut entries = (*e).clone();
                let gone = store
                    .expunged_since(folder.mailbox_id, folder.id, m)
                    .await?;
                if !gone.is_empty() {
                    entries.retain(|x| gone.binary_search(&x.uid).is_err());
                }
                for c in store
                    .folder_changes(folder.mailbox_id, folder.id, m)
                    .await?
                {
                    match entries.binary_search_by_key(&c.uid, |x| x.uid) {
                        Ok(i) => entries[i] = c,
                        Err(i) => entries.insert(i, c),
                    }
                }
                entries
            }
            _ => store.folder_index(folder.mailbox_id, folder.id).await?,
        };
        self.keep(folder.id, &entries, folder.highest_modseq);
        Ok(entries)
    }

    fn keep(&self, folder: FolderId, entries: &[IndexEntry], modseq: u64) {
        if entries.len() > self.max_entries {
            return;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        let used = inner.tick;
        if let Some(old) = inner.folders.remove(&folder) {
            inner.total -= old.entries.len();
        }
        while inner.total + entries.len() > self.max_entries {
            let Some(oldest) = inner
                .folders
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            if let Some(c) = inner.folders.remove(&oldest) {
                inner.total -= c.entries.len();
            }
        }
        inner.total += entries.len();
        inner.folders.insert(
            folder,
            Cached {
                entries: Arc::new(entries.to_vec()),
                modseq,
                used,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use athen_core::account::{AccountKind, CredentialKind, NewCredential};
    use athen_core::directory::EntryDetails;
    use athen_core::mailbox::{FlagChange, NewStoredMessage, flags};
    use athen_core::store::{AccountStore, NewAccount};

    #[tokio::test]
    async fn catching_up_gives_what_reading_it_all_gives() {
        let dir = tempfile::tempdir().unwrap();
        let s = athen_store::SqliteStore::open(&dir.path().join("t.db"))
            .await
            .unwrap();
        let c = s
            .create_account(NewAccount {
                kind: AccountKind::Individual,
                address: "a@x.test".into(),
                name: "A".into(),
                details: EntryDetails::default(),
                public_key: "age1test".into(),
                credentials: vec![NewCredential {
                    kind: CredentialKind::Password,
                    label: String::new(),
                    wrapped: vec![1],
                    doors: athen_core::account::Doors::PASSWORD,
                }],
                created_at: 0,
                confirmation_hash: None,
            })
            .await
            .unwrap();
        let mb = c.mailbox_id;
        let inbox = || async {
            s.folders(mb)
                .await
                .unwrap()
                .into_iter()
                .find(|f| f.name == "Inbox")
                .unwrap()
        };
        let add = |i: u32| NewStoredMessage {
            mailbox_id: mb,
            folder_id: athen_core::FolderId(0),
            size: 10,
            received_at: 0,
            flags: 0,
            blob_key: format!("mail/{i}"),
            sealed_meta: vec![],
            import_file: false,
        };
        let folder = inbox().await;
        for i in 0..6 {
            s.add_message(NewStoredMessage {
                folder_id: folder.id,
                ..add(i)
            })
            .await
            .unwrap();
        }
        let cache = IndexCache::new(100);
        let first = cache.index(&s, &inbox().await).await.unwrap();
        assert_eq!(first.len(), 6);
        s.store_flags(mb, folder.id, &[2, 5], FlagChange::Add(flags::SEEN), None)
            .await
            .unwrap();
        s.expunge(mb, folder.id, &[1, 4]).await.unwrap();
        s.add_message(NewStoredMessage {
            folder_id: folder.id,
            ..add(9)
        })
        .await
        .unwrap();
        let now = inbox().await;
        let caught_up = cache.index(&s, &now).await.unwrap();
        assert_eq!(caught_up, s.folder_index(mb, folder.id).await.unwrap());
        assert_eq!(
            caught_up.iter().map(|e| e.uid).collect::<Vec<_>>(),
            [2, 3, 5, 6, 7]
        );
        // Unchanged: the kept copy as it is.
        assert_eq!(cache.index(&s, &now).await.unwrap(), caught_up);
        // Too small to keep a folder: read each time, still right.
        let tiny = IndexCache::new(2);
        assert_eq!(tiny.index(&s, &now).await.unwrap(), caught_up);
    }
}
