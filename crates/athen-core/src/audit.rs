//! The seam where delivery events meet the per-message audit trail.
//!
//! The SMTP session and the outbound queue report what happened to each
//! message through [`AuditSink`]. The audit trail itself (issue 5: hash-
//! chained, sealed to the mailbox's key, merged at unlock) implements this
//! trait; until it exists, `athen_smtp::audit::LogOnly` writes one log line
//! per event with ids and outcomes only, never addresses, subjects or
//! content.

use crate::ids::{MailboxId, QueueId};
use async_trait::async_trait;

/// One thing that happened to a message, from the sender's side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryEvent {
    /// A user of this server sent a message (whitepaper "SENT").
    Submitted {
        sender: MailboxId,
        /// The RFC 3461 ENVID that reports about it will carry.
        envid: String,
        message_id: Option<String>,
        local_recipients: usize,
        remote_recipients: usize,
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
