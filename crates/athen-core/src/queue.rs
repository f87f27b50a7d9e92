//! The outbound queue: mail waiting to leave for other servers, with one
//! state per recipient. Only routing data is kept here in plaintext (the
//! envelope, times, states, the remote server's reply); the message itself
//! is a blob encrypted with the server's queue key.

use crate::clock::UnixTime;
use crate::ids::{MailboxId, QueueId, QueueRecipientId};
use serde::{Deserialize, Serialize};

/// RFC 3461 §4.3: what the sender wants to be told about a recipient.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    pub never: bool,
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl Notify {
    /// RFC 3461 §4.1: without NOTIFY, report failures and delays.
    pub const DEFAULT: Notify = Notify {
        never: false,
        success: false,
        failure: true,
        delay: true,
    };

    /// The NOTIFY parameter value, e.g. `FAILURE,DELAY` or `NEVER`.
    pub fn as_param(&self) -> String {
        if self.never {
            return "NEVER".into();
        }
        let mut parts = Vec::new();
        if self.success {
            parts.push("SUCCESS");
        }
        if self.failure {
            parts.push("FAILURE");
        }
        if self.delay {
            parts.push("DELAY");
        }
        parts.join(",")
    }

    /// Parses what [`as_param`](Self::as_param) wrote.
    pub fn from_param(s: &str) -> Notify {
        let mut n = Notify::default();
        for part in s.split(',') {
            match part.trim().to_ascii_uppercase().as_str() {
                "NEVER" => n.never = true,
                "SUCCESS" => n.success = true,
                "FAILURE" => n.failure = true,
                "DELAY" => n.delay = true,
                _ => {}
            }
        }
        n
    }
}

/// RFC 3461 §4.3: how much of the message a failure report returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ret {
    Full,
    Headers,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientState {
    /// Waiting for its next attempt.
    Queued,
    /// Accepted by the next server.
    Relayed,
    /// Permanently refused, or given up after the retry period.
    Failed,
}

impl RecipientState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Relayed => "relayed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(Self::Queued),
            "relayed" => Some(Self::Relayed),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A message to put in the queue; its blob is already durably written.
#[derive(Clone, Debug)]
pub struct NewQueuedMessage {
    /// The local mailbox that sent it (for reports); `None` for mail the
    /// server itself generates (delivery reports to other servers).
    pub sender_mailbox: Option<MailboxId>,
    /// The envelope sender; empty for the null reverse-path.
    pub mail_from: String,
    pub envid: Option<String>,
    pub ret: Option<Ret>,
    pub blob_key: String,
    pub size: u64,
    pub created_at: UnixTime,
    pub recipients: Vec<NewQueuedRecipient>,
}

#[derive(Clone, Debug)]
pub struct NewQueuedRecipient {
    pub address: String,
    /// RFC 3461 ORCPT, as given (`rfc822;addr`).
    pub orcpt: Option<String>,
    pub notify: Notify,
}

/// A queued message with all its recipients.
#[derive(Clone, Debug, Serialize)]
pub struct QueuedMessage {
    pub id: QueueId,
    pub sender_mailbox: Option<MailboxId>,
    pub mail_from: String,
    pub envid: Option<String>,
    pub ret: Option<Ret>,
    #[serde(skip)]
    pub blob_key: String,
    pub size: u64,
    pub created_at: UnixTime,
    /// A delay report has been sent (only one is).
    pub delay_reported: bool,
    pub recipients: Vec<QueuedRecipient>,
}

#[derive(Clone, Debug, Serialize)]
pub struct QueuedRecipient {
    pub id: QueueRecipientId,
    pub address: String,
    pub domain: String,
    pub orcpt: Option<String>,
    pub notify: Notify,
    pub state: RecipientState,
    pub attempts: u32,
    pub next_attempt_at: UnixTime,
    /// The last reply or error, for reports and the operator (never content).
    pub last_reply: Option<String>,
    /// The server that accepted or refused it.
    pub remote_host: Option<String>,
    /// How the last connection was protected, e.g. "TLS 1.3, certificate not verified".
    pub tls: Option<String>,
    /// Whether a report about this recipient's final state has been made.
    pub reported: bool,
}

/// The outcome of one delivery attempt for one recipient.
#[derive(Clone, Debug)]
pub struct AttemptOutcome {
    pub recipient: QueueRecipientId,
    pub state: RecipientState,
    pub next_attempt_at: UnixTime,
    pub reply: String,
    pub remote_host: Option<String>,
    pub tls: Option<String>,
}

/// A recipient domain's MTA-STS policy as last fetched, kept until it
/// expires (RFC 8461 §5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedPolicy {
    pub domain: String,
    /// The `id` of the `_mta-sts` TXT record it was fetched under.
    pub policy_id: String,
    /// The policy file as served.
    pub policy: String,
    pub fetched_at: UnixTime,
    pub expires_at: UnixTime,
}

/// Automatic mail from one of our mailboxes to another server (a read
/// receipt, RFC 8098): queued from the null reverse-path (RFC 8098 §3,
/// so nothing is ever reported about it) and never reported on.
#[async_trait::async_trait]
pub trait AutomaticMail: Send + Sync {
    /// Signs and queues `message` for `to`; durable when this returns.
    async fn queue_automatic(
        &self,
        sender_mailbox: MailboxId,
        to: &str,
        message: &[u8],
    ) -> Result<QueueId, String>;
}
