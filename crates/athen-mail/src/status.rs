//! Where each letter of a mailbox got to, by Message-ID, as its audit trail
//! tells it: the status column of a folder list.
//!
//! Built once from the whole trail and then only from the entries added
//! since (the trail is append-only and hash-chained, so the entries after
//! the head are all that can be new). A folder page therefore costs the new
//! entries, not the whole trail, however long the mailbox has been in use.

use crate::MailError;
use crate::audit::{EventKind, TrailItem, trail_after, trail_with_head};
use athen_core::MailboxId;
use athen_core::audit::AuditAnchor;
use athen_core::store::AuditStore;
use athen_vault::MailboxSecret;
use std::collections::HashMap;

/// A letter's status, in the order a letter moves through them; `Failed`
/// stays once reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LetterStatus {
    /// Sent by this mailbox; no further news.
    Sent,
    /// In the recipient's mailbox.
    Delivered,
    /// Opened by the recipient (or, for a received letter, by this mailbox).
    Read,
    /// Fetched by the recipient's downloader.
    Downloaded,
    /// Taken in by the recipient's clinical system.
    Imported,
    /// Given up; the timeline says why.
    Failed,
}

impl LetterStatus {
    /// The word the web app and the API show.
    pub fn as_str(self) -> &'static str {
        match self {
            LetterStatus::Sent => "sent",
            LetterStatus::Delivered => "delivered",
            LetterStatus::Read => "read",
            LetterStatus::Downloaded => "downloaded",
            LetterStatus::Imported => "imported",
            LetterStatus::Failed => "failed",
        }
    }

    fn of(kind: EventKind) -> Option<LetterStatus> {
        Some(match kind {
            EventKind::Submitted | EventKind::Queued | EventKind::Relayed => LetterStatus::Sent,
            EventKind::Delivered => LetterStatus::Delivered,
            EventKind::Read => LetterStatus::Read,
            EventKind::Downloaded => LetterStatus::Downloaded,
            EventKind::Imported => LetterStatus::Imported,
            EventKind::Failed => LetterStatus::Failed,
            _ => return None,
        })
    }
}

/// The status of every letter the trail knows, and how far it was read.
#[derive(Default)]
pub struct LetterStatuses {
    by_message_id: HashMap<String, LetterStatus>,
    /// Reports name the envelope id (RFC 3461 ENVID) rather than the
    /// Message-ID; the submission entry links the two.
    envids: HashMap<String, String>,
    head: Option<AuditAnchor>,
}

impl LetterStatuses {
    /// Adds what `items` say, in trail order.
    pub fn add(&mut self, items: &[TrailItem]) {
        for i in items {
            let e = &i.event;
            let Some(kind) = e.kind else { continue };
            if let (Some(id), Some(envid)) = (&e.message_id, &e.envid) {
                self.envids.insert(envid.clone(), id.clone());
            }
            let id = e
                .message_id
                .clone()
                .or_else(|| e.envid.as_ref().and_then(|v| self.envids.get(v).cloned()));
            let (Some(id), Some(next)) = (id, LetterStatus::of(kind)) else {
                continue;
            };
            let now = self.by_message_id.entry(id).or_insert(next);
            if next > *now {
                *now = next;
            }
        }
    }

    /// Reads the entries added since the last refresh (the whole trail the
    /// first time, or when the chain does not continue from where it was).
    pub async fn refresh(
        &mut self,
        store: &dyn AuditStore,
        mailbox: MailboxId,
        secret: &MailboxSecret,
    ) -> Result<(), MailError> {
        if let Some(head) = self.head
            && let Some((items, head)) = trail_after(store, mailbox, secret, head).await?
        {
            self.add(&items);
            self.head = Some(head);
            return Ok(());
        }
        let (items, head) = trail_with_head(store, mailbox, secret).await?;
        *self = LetterStatuses::default();
        self.add(&items);
        self.head = Some(head);
        Ok(())
    }

    /// The status of the letter with this Message-ID, if the trail has any.
    pub fn get(&self, message_id: &str) -> Option<LetterStatus> {
        self.by_message_id.get(message_id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::TrailEvent;

    fn item(seq: u64, kind: EventKind, id: Option<&str>, envid: Option<&str>) -> TrailItem {
        TrailItem {
            seq,
            at: 0,
            event: TrailEvent {
                kind: Some(kind),
                message_id: id.map(String::from),
                envid: envid.map(String::from),
                ..TrailEvent::default()
            },
        }
    }

    #[test]
    fn a_letter_moves_forward_and_failure_stays() {
        let mut s = LetterStatuses::default();
        s.add(&[
            item(1, EventKind::Submitted, Some("<a@x>"), Some("E1")),
            item(2, EventKind::Relayed, None, Some("E1")),
            item(3, EventKind::Read, Some("<a@x>"), None),
            // A late "delivered" report does not move it back.
            item(4, EventKind::Delivered, None, Some("E1")),
            item(5, EventKind::Submitted, Some("<b@x>"), Some("E2")),
            item(6, EventKind::Failed, None, Some("E2")),
            item(7, EventKind::Delivered, None, Some("E2")),
            item(8, EventKind::Received, Some("<c@x>"), None),
        ]);
        assert_eq!(s.get("<a@x>"), Some(LetterStatus::Read));
        assert_eq!(s.get("<b@x>"), Some(LetterStatus::Failed));
        assert_eq!(s.get("<c@x>"), None);
        s.add(&[item(9, EventKind::Imported, Some("<a@x>"), None)]);
        assert_eq!(s.get("<a@x>"), Some(LetterStatus::Imported));
    }
}
