//! ATHEN's IMAP server (IMAP4rev1, RFC 3501, and IMAP4rev2, RFC 9051).
//!
//! Mail programs (Outlook, Thunderbird, phones) read the same encrypted
//! mailbox store as the web app. Logging in unlocks the mailbox exactly
//! as a web sign-in does (a session in [`athen_vault::sessions`], and
//! the unspool worker of [`athen_mail::live`]); logging out, or the
//! session's idle or absolute timeout, locks it again when no other
//! session holds it.
//!
//! - [`reader`]: reads one command off the wire, literals and all,
//!   within limits; [`syntax`]: parses it into a [`command::Command`];
//! - [`session`]: the protocol's states and commands; [`selected`]: the
//!   view of the selected folder (message numbers, flags, what changed);
//! - [`fetch`]: the parts of a message FETCH returns; [`search`]:
//!   SEARCH; [`response`]: how answers are written;
//! - [`listener`]: ports 143 (STARTTLS) and 993 (TLS), within limits.

pub mod command;
pub mod fetch;
pub mod index_cache;
pub mod listener;
pub mod mime;
pub(crate) mod reader;
pub mod response;
pub mod selected;
pub mod sequence;
pub mod session;
pub mod syntax;
pub mod utf7;

use athen_core::clock::Clock;
use athen_core::queue::AutomaticMail;
use athen_core::store::{BlobStore, MetadataStore};
use athen_mail::live::LiveMail;
use athen_vault::auth::Authenticator;
use athen_vault::sessions::Sessions;
use std::sync::Arc;

/// The IMAP service's settings.
#[derive(Debug, Clone)]
pub struct ImapConfig {
    /// This server's name (in read receipts).
    pub hostname: String,
    /// The largest message APPEND takes (APPENDLIMIT, RFC 7889).
    pub max_message_bytes: usize,
    /// Open connections allowed from one address, and in all.
    pub max_connections_per_address: usize,
    pub max_connections: usize,
    /// New connections allowed from one address in any minute; 0: no
    /// limit.
    pub connections_per_minute_per_address: usize,
    /// What one mailbox may hold (RFC 9208 STORAGE); 0: no limit. IMAP
    /// APPEND and COPY are refused beyond it.
    pub quota_bytes: u64,
}

/// What the IMAP service works with.
pub struct ImapContext {
    pub config: ImapConfig,
    pub sessions: Arc<Sessions>,
    pub authenticator: Arc<Authenticator>,
    pub live: Arc<LiveMail>,
    pub store: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// Read receipts to other servers go through the outbound queue.
    pub queue: Option<Arc<dyn AutomaticMail>>,
    pub clock: Arc<dyn Clock>,
    pub tls: tokio_rustls::TlsAcceptor,
    /// The folders' numbering, kept between sessions.
    pub index: index_cache::IndexCache,
}
