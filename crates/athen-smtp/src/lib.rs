//! ATHEN's SMTP front doors.
//!
//! - The MX listener (whitepaper "Receiving Mail Run-Through" steps 1–3):
//!   it accepts mail from other servers only over TLS (STARTTLS is
//!   compulsory, RFC 3207), only for accounts of this server (it is not a
//!   relay), and answers `250` only after the message has been sealed to
//!   each recipient's public key and written durably.
//! - The submission listeners (587 with STARTTLS, 465 with implicit TLS,
//!   RFC 6409 and RFC 8314): people's mail programs log in with AUTH PLAIN or
//!   LOGIN (RFC 4954) after TLS, with their password or an app token, and may
//!   send only as their own address. Mail to accounts of this server is
//!   sealed into their spools; a copy goes into the sender's Sent folder.
//!
//! Modules follow the flow: [`listener`] accepts connections within limits,
//! [`session`] speaks the protocol, [`reply`] holds the reply texts.

pub mod dkim;
pub mod listener;
pub mod outbound;
pub mod reply;
pub mod sender_auth;
pub mod session;
pub mod submission;

use athen_core::clock::Clock;
use athen_core::store::{BlobStore, MetadataStore};
use std::sync::Arc;
use std::time::Duration;

/// Which door a connection came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Port 25: other mail servers deliver to our accounts.
    Mx,
    /// Port 587 (STARTTLS) or 465 (`implicit_tls`): our users send.
    Submission { implicit_tls: bool },
}

/// Settings of the MX listener.
#[derive(Debug, Clone)]
pub struct MxConfig {
    /// This server's name, in the greeting and Received: fields.
    pub hostname: String,
    /// The configured mail domain (also every domain an account uses is local).
    pub domain: String,
    /// Largest message accepted (advertised with SIZE, RFC 1870).
    pub max_message_bytes: usize,
    /// RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted.
    pub max_recipients: usize,
    /// Open connections allowed from one address at once.
    pub max_connections_per_address: usize,
    /// Open connections allowed in all.
    pub max_connections: usize,
    /// New connections allowed from one address in any 60 seconds.
    pub connections_per_minute_per_address: usize,
    /// RFC 5321 §4.5.3.2.7: the server waits at least 5 minutes for a command.
    pub command_timeout: Duration,
    /// RFC 5321 §4.5.3.2.5: 3 minutes for each block of message data.
    pub data_timeout: Duration,
    /// Errors (bad commands, unknown recipients) tolerated before the
    /// connection is closed, as Postfix's `smtpd_hard_error_limit` (20).
    pub max_errors: u32,
}

impl MxConfig {
    pub fn new(hostname: &str, domain: &str, max_message_bytes: usize) -> Self {
        Self {
            hostname: hostname.to_string(),
            domain: domain.to_ascii_lowercase(),
            max_message_bytes,
            max_recipients: 100,
            max_connections_per_address: 20,
            max_connections: 2000,
            connections_per_minute_per_address: 600,
            command_timeout: Duration::from_secs(5 * 60),
            data_timeout: Duration::from_secs(3 * 60),
            max_errors: 20,
        }
    }
}

/// What the MX needs, built once at start-up.
pub struct MxContext {
    pub config: MxConfig,
    /// SPF, DKIM, DMARC and ARC checks of incoming mail (MX only).
    pub sender_auth: Arc<sender_auth::SenderAuth>,
    /// Checks AUTH credentials on the submission ports (throttled).
    pub authenticator: Arc<athen_vault::auth::Authenticator>,
    pub store: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub tls: tokio_rustls::TlsAcceptor,
    /// The outbound queue for submitted mail to other servers; `None`
    /// refuses such recipients.
    pub outbound: Option<Arc<outbound::Outbound>>,
    /// Where "sent" events go (the audit trail, issue 5).
    pub audit: Arc<dyn athen_core::audit::AuditSink>,
}

/// Where a message's header section ends: the offset of the empty line
/// (CRLF or bare LF) that separates it from the body, or the whole input if
/// there is none (RFC 5322 §2.1).
pub(crate) use athen_mail::header::header_end;
