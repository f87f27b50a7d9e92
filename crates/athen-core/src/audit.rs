//! The per-mailbox audit trail: what is stored, and how its integrity is
//! checked without any key.
//!
//! The SMTP session and the outbound queue report what happened to each
//! message through [`AuditSink`]; `athen_mail::audit` turns those reports
//! into trail events. A trail is a hash chain of entries per mailbox. Each
//! entry's content is encrypted (with the mailbox data key, bound to its
//! place in the chain), so only its sequence number, time and hash are
//! plain. [`chain_hash`] links each entry to the one before it, so the
//! administrator can check a trail for gaps, reordering and changes
//! ([`verify_chain`]) without being able to read it; a trail rewritten
//! whole would no longer decrypt for its owner, because each entry's
//! encryption is bound to the hash before it.
//!
//! Events that happen while a mailbox is locked (a relay result, a receipt)
//! are sealed to its public key and kept apart, pending, until the next
//! unlock merges them into the chain.

use crate::clock::UnixTime;
use crate::ids::{MailboxId, QueueId};
use async_trait::async_trait;
use sha2::{Digest, Sha256};

/// A chain link: SHA-256.
pub type ChainHash = [u8; 32];

/// The hash before a mailbox's first entry.
pub const GENESIS: ChainHash = [0; 32];

/// One stored entry of a trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// 1, 2, 3, … per mailbox, without gaps.
    pub seq: u64,
    pub at: UnixTime,
    /// The event, encrypted by `athen_mail::audit`.
    pub sealed: Vec<u8>,
    pub hash: ChainHash,
}

/// Where the kept part of a trail starts: the last entry removed by
/// retention (or nothing yet: `seq` 0 and [`GENESIS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditAnchor {
    pub seq: u64,
    pub hash: ChainHash,
}

impl Default for AuditAnchor {
    fn default() -> Self {
        AuditAnchor {
            seq: 0,
            hash: GENESIS,
        }
    }
}

/// An event recorded while its mailbox was locked, sealed to the
/// mailbox's public key, waiting to be merged into the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingAuditEvent {
    pub id: i64,
    pub at: UnixTime,
    pub sealed: Vec<u8>,
}

/// Encrypts the `index`-th new entry once the store knows its place:
/// `(index, seq, hash of the entry before)`. Called inside the store's
/// write transaction, so places are never handed out twice.
pub type SealEntry<'a> =
    dyn Fn(usize, u64, &ChainHash) -> Result<Vec<u8>, crate::StoreError> + Send + Sync + 'a;

/// The link of entry `seq`: SHA-256 over the link before it, the sequence
/// number, the time and the encrypted content, each length-delimited.
pub fn chain_hash(prev: &ChainHash, seq: u64, at: UnixTime, sealed: &[u8]) -> ChainHash {
    let mut h = Sha256::new();
    h.update(b"athen-audit-v1\0");
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(at.to_be_bytes());
    h.update((sealed.len() as u64).to_be_bytes());
    h.update(sealed);
    h.finalize().into()
}

/// What a check of a trail found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every entry follows from the anchor; `entries` were checked.
    Intact { entries: u64, head: AuditAnchor },
    /// The first entry that does not follow, and why.
    Broken { seq: u64, reason: String },
}

/// Checks that `entries` (in order) continue `anchor` link by link.
pub fn verify_chain(anchor: AuditAnchor, entries: &[AuditEntry]) -> ChainCheck {
    let mut head = anchor;
    for e in entries {
        if e.seq != head.seq + 1 {
            return ChainCheck::Broken {
                seq: e.seq,
                reason: format!(
                    "entry {} follows entry {}: entries are missing or out of order",
                    e.seq, head.seq
                ),
            };
        }
        let expected = chain_hash(&head.hash, e.seq, e.at, &e.sealed);
        if expected != e.hash {
            return ChainCheck::Broken {
                seq: e.seq,
                reason: format!(
                    "entry {} does not match its link: it or an entry before it was changed",
                    e.seq
                ),
            };
        }
        head = AuditAnchor {
            seq: e.seq,
            hash: e.hash,
        };
    }
    ChainCheck::Intact {
        entries: entries.len() as u64,
        head,
    }
}

/// One thing that happened to a message, from the sender's side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryEvent {
    /// A user of this server sent a message (whitepaper "SENT").
    Submitted {
        sender: MailboxId,
        /// The login that sent it (a staff member's, for an organisation).
        login: String,
        /// The RFC 3461 ENVID that reports about it will carry.
        envid: String,
        message_id: Option<String>,
        /// Recipients with a mailbox here: delivered into their spool
        /// before the submission was answered.
        local_recipients: Vec<String>,
        /// Recipients on other servers: in the outbound queue.
        remote_recipients: Vec<String>,
    },
    /// One recipient's attempt ended: accepted by the next server
    /// (`relayed`), deferred for a retry, or given up (`failed`).
    Attempted {
        sender: Option<MailboxId>,
        envid: Option<String>,
        queue_id: QueueId,
        recipient: String,
        outcome: AttemptResult,
        /// The reply or error, e.g. "relayed to mx.example: 250 2.0.0 OK".
        reply: String,
        remote_host: Option<String>,
        /// How the connection was protected, e.g. "TLS 1.3, certificate
        /// verified by DANE (TLSA 3 1 1)".
        tls: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    Relayed,
    Deferred,
    Failed,
}

impl AttemptResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptResult::Relayed => "relayed",
            AttemptResult::Deferred => "deferred",
            AttemptResult::Failed => "failed",
        }
    }
}

#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Records an event. Must not fail the delivery it describes: an
    /// implementation keeps what it cannot write and says so in its log.
    async fn record(&self, event: DeliveryEvent);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let sealed = vec![seq as u8; 20];
                let hash = chain_hash(&prev, seq, 1_800_000_000 + seq as i64, &sealed);
                prev = hash;
                AuditEntry {
                    seq,
                    at: 1_800_000_000 + seq as i64,
                    sealed,
                    hash,
                }
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_and_every_kind_of_damage() {
        let c = chain(5);
        assert!(matches!(
            verify_chain(AuditAnchor::default(), &c),
            ChainCheck::Intact { entries: 5, .. }
        ));
        // After retention removed the first two, the anchor carries on.
        let anchor = AuditAnchor {
            seq: 2,
            hash: c[1].hash,
        };
        assert!(matches!(
            verify_chain(anchor, &c[2..]),
            ChainCheck::Intact { entries: 3, .. }
        ));
        let mut changed = c.clone();
        changed[2].sealed[0] ^= 1;
        assert_eq!(
            verify_chain(AuditAnchor::default(), &changed),
            ChainCheck::Broken {
                seq: 3,
                reason: "entry 3 does not match its link: it or an entry before it was changed"
                    .into()
            }
        );
        let mut gap = c.clone();
        gap.remove(1);
        assert!(matches!(
            verify_chain(AuditAnchor::default(), &gap),
            ChainCheck::Broken { seq: 3, .. }
        ));
        let mut moved = c.clone();
        moved[3].at += 1;
        assert!(matches!(
            verify_chain(AuditAnchor::default(), &moved),
            ChainCheck::Broken { seq: 4, .. }
        ));
        assert!(matches!(
            verify_chain(anchor, &c),
            ChainCheck::Broken { seq: 1, .. }
        ));
    }
}
