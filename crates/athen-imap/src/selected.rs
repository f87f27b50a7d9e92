//! The selected folder as this session's client knows it: message
//! sequence numbers (RFC 9051 §2.3.1.2) over UIDs, the flags it was told,
//! and how far it has been told of changes. Catching up reads only what
//! changed since ([`MailboxStore::folder_changes`]), so a large folder
//! costs nothing when nothing happens.

use crate::response;
use athen_core::mailbox::{Folder, IndexEntry};
use athen_core::store::{MailboxStore, StoreResult};
use athen_core::{FolderId, MailboxId};

pub struct Selected {
    pub folder: Folder,
    /// The name the client selected it by (as it must be echoed).
    pub read_only: bool,
    /// In sequence order: sequence number `n` is `messages[n - 1]`.
    pub messages: Vec<IndexEntry>,
    /// Changes up to this mod-sequence have been told (flags, arrivals).
    pub told_modseq: u64,
    /// Removals up to this mod-sequence have been told; later ones wait
    /// for a moment the client may hear of them (not during FETCH, STORE
    /// or SEARCH: RFC 9051 §7.5.1).
    pub expunges_told: u64,
}

/// How the session tells its client of changes.
#[derive(Clone, Copy)]
pub struct Telling {
    /// QRESYNC is on: removals are `VANISHED`, not `EXPUNGE`.
    pub qresync: bool,
    /// CONDSTORE is on: FETCH responses carry MODSEQ.
    pub condstore: bool,
    pub allow_expunge: bool,
}

impl Selected {
    pub async fn open(
        store: &dyn MailboxStore,
        cache: &crate::index_cache::IndexCache,
        folder: Folder,
        read_only: bool,
    ) -> StoreResult<Selected> {
        let messages = cache.index(store, &folder).await?;
        let told = folder.highest_modseq;
        Ok(Selected {
            folder,
            read_only,
            messages,
            told_modseq: told,
            expunges_told: told,
        })
    }

    pub fn id(&self) -> FolderId {
        self.folder.id
    }

    pub fn uids(&self) -> Vec<u32> {
        self.messages.iter().map(|m| m.uid).collect()
    }

    pub fn largest_uid(&self) -> u32 {
        self.messages.last().map_or(0, |m| m.uid)
    }

    /// The sequence number of `uid`, if the client knows it.
    pub fn seq_of(&self, uid: u32) -> Option<usize> {
        self.messages
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .map(|i| i + 1)
    }

    pub fn entry(&self, uid: u32) -> Option<&IndexEntry> {
        self.messages
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .map(|i| &self.messages[i])
    }

    /// Records a change this session made itself (its answer told it).
    pub fn update(&mut self, e: &IndexEntry) {
        if let Ok(i) = self.messages.binary_search_by_key(&e.uid, |m| m.uid) {
            self.messages[i].flags = e.flags;
            self.messages[i].modseq = e.modseq;
        }
    }

    /// Removes `uids` (ascending) from the view, writing how the client
    /// hears of it.
    pub fn remove(&mut self, uids: &[u32], qresync: bool, out: &mut Vec<u8>) {
        if uids.is_empty() {
            return;
        }
        if qresync {
            // RFC 7162 §3.2.10: VANISHED instead of EXPUNGE.
            let known: Vec<u32> = uids
                .iter()
                .copied()
                .filter(|u| self.seq_of(*u).is_some())
                .collect();
            self.messages
                .retain(|m| uids.binary_search(&m.uid).is_err());
            if !known.is_empty() {
                out.extend_from_slice(
                    format!(
                        "* VANISHED {}\r\n",
                        crate::sequence::SequenceSet::compact(&known)
                    )
                    .as_bytes(),
                );
            }
            return;
        }
        for uid in uids {
            if let Some(seq) = self.seq_of(*uid) {
                self.messages.remove(seq - 1);
                out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
            }
        }
    }

    /// Writes a FETCH of a message's flags (after someone changed them).
    pub fn write_flags(&self, out: &mut Vec<u8>, e: &IndexEntry, condstore: bool) {
        if let Some(seq) = self.seq_of(e.uid) {
            out.extend_from_slice(format!("* {seq} FETCH (UID {} FLAGS ", e.uid).as_bytes());
            response::flag_list(out, e.flags);
            if condstore {
                out.extend_from_slice(format!(" MODSEQ ({})", e.modseq).as_bytes());
            }
            out.extend_from_slice(b")\r\n");
        }
    }

    /// Tells the client what changed in the folder since it last heard:
    /// removals (when allowed), new messages (EXISTS) and changed flags.
    pub async fn catch_up(
        &mut self,
        store: &dyn MailboxStore,
        mailbox: MailboxId,
        how: Telling,
        out: &mut Vec<u8>,
    ) -> StoreResult<()> {
        let Some(now) = store
            .folders(mailbox)
            .await?
            .into_iter()
            .find(|f| f.id == self.folder.id)
        else {
            return Ok(());
        };
        self.folder.uid_next = now.uid_next;
        if how.allow_expunge && now.highest_modseq > self.expunges_told {
            let gone = store
                .expunged_since(mailbox, self.folder.id, self.expunges_told)
                .await?;
            self.remove(&gone, how.qresync, out);
            self.expunges_told = now.highest_modseq;
        }
        if now.highest_modseq > self.told_modseq {
            let changes = store
                .folder_changes(mailbox, self.folder.id, self.told_modseq)
                .await?;
            let mut arrived = false;
            for e in changes {
                match self.messages.binary_search_by_key(&e.uid, |m| m.uid) {
                    Ok(i) => {
                        let was = self.messages[i];
                        self.messages[i] = e;
                        if was.flags != e.flags || (how.condstore && was.modseq != e.modseq) {
                            self.write_flags(out, &e, how.condstore);
                        }
                    }
                    Err(i) if i == self.messages.len() => {
                        self.messages.push(e);
                        arrived = true;
                    }
                    // Lower than what the client knows and not known: it
                    // was removed from the view already.
                    Err(_) => {}
                }
            }
            if arrived {
                out.extend_from_slice(format!("* {} EXISTS\r\n", self.messages.len()).as_bytes());
            }
            self.told_modseq = now.highest_modseq;
        }
        self.folder.highest_modseq = self.told_modseq;
        Ok(())
    }
}
