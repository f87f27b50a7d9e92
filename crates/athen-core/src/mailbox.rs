//! Mailboxes, folders, spooled and stored messages.
//!
//! Only what routing and accounting need is in the clear here (DESIGN.md,
//! "Keys and what is plaintext"): ids, sizes, times, flags, folder and UID
//! numbers. Subjects, correspondents, patient details and bodies live inside
//! the encrypted blob and the encrypted `sealed_meta`.

use crate::clock::UnixTime;
use crate::ids::{AccountId, FolderId, MailboxId, MessageId, SpoolId};
use serde::{Deserialize, Serialize};

/// A mailbox: the public half of its key pair is stored in the clear so that
/// mail can be sealed to it at any time; the secret half exists only wrapped
/// by credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub id: MailboxId,
    pub account_id: AccountId,
    /// The age X25519 recipient (`age1...`) that spool entries are sealed to.
    pub public_key: String,
    pub created_at: UnixTime,
    /// Set when every credential was lost and the account was given a new
    /// mailbox; its mail is kept, but nobody can read it any more.
    pub retired_at: Option<UnixTime>,
}

/// What a mailbox's owner chose for incoming letters (plain: it says which
/// clinical program a practice imports into, nothing about any patient).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxSettings {
    /// Delivery formats in order of preference (`hl7-oru`, `hl7-ref`,
    /// `pit`, `pit-rtf`, HL7 with `:adrm2021` or `:as4700`); the first that
    /// can be made is attached. Empty: letters are not converted.
    pub delivery_formats: Vec<String>,
    /// Whether opening a letter that asks for a read receipt sends one.
    pub receipt_policy: ReceiptPolicy,
}

/// RFC 8098 read receipts: sent when a letter that asks is opened
/// (`Always`, the default for provider mailboxes), left to the person
/// (`Ask`: the web app asks; other programs send none), or never.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReceiptPolicy {
    #[default]
    Always,
    Ask,
    Never,
}

impl ReceiptPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptPolicy::Always => "always",
            ReceiptPolicy::Ask => "ask",
            ReceiptPolicy::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<ReceiptPolicy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "always" => Some(ReceiptPolicy::Always),
            "ask" => Some(ReceiptPolicy::Ask),
            "never" => Some(ReceiptPolicy::Never),
            _ => None,
        }
    }
}

/// The folders every mailbox has, and the web app and IMAP show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpecialFolder {
    Inbox,
    Sent,
    Drafts,
    Downloaded,
    Archive,
    Trash,
}

impl SpecialFolder {
    pub const ALL: [SpecialFolder; 6] = [
        Self::Inbox,
        Self::Sent,
        Self::Drafts,
        Self::Downloaded,
        Self::Archive,
        Self::Trash,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Inbox => "Inbox",
            Self::Sent => "Sent",
            Self::Drafts => "Drafts",
            Self::Downloaded => "Downloaded",
            Self::Archive => "Archive",
            Self::Trash => "Trash",
        }
    }
}

/// A folder in a mailbox, with the IMAP numbering it needs (RFC 9051 §2.3.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    pub id: FolderId,
    pub mailbox_id: MailboxId,
    pub name: String,
    pub uid_validity: u32,
    pub uid_next: u32,
    /// The highest mod-sequence given in this folder (RFC 7162 §3): it
    /// grows with every change to a message in it, so an unchanged value
    /// means nothing changed.
    pub highest_modseq: u64,
}

/// A sealed message waiting for its mailbox to be unlocked. The blob is
/// encrypted to the mailbox's public key; the server cannot open it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolEntry {
    pub id: SpoolId,
    pub mailbox_id: MailboxId,
    pub blob_key: String,
    pub size: u64,
    pub received_at: UnixTime,
}

/// A message in a mailbox store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub id: MessageId,
    pub mailbox_id: MailboxId,
    pub folder_id: FolderId,
    pub uid: u32,
    /// Size of the plaintext message in octets (IMAP RFC822.SIZE).
    pub size: u64,
    pub received_at: UnixTime,
    /// Orders messages that arrived in the same second: the spool entry's
    /// number, 0 for messages filed directly (a Sent copy).
    pub arrival: i64,
    /// IMAP system flags as a bit set (see [`flags`]).
    pub flags: u32,
    /// When it last changed (RFC 7162 §3: filed, moved in, flags).
    pub modseq: u64,
    /// Where the encrypted message body is in the blob store.
    pub blob_key: String,
    /// Subject, correspondents and patient details, encrypted with the
    /// mailbox data key.
    pub sealed_meta: Vec<u8>,
}

/// A message to be added to a mailbox store.
#[derive(Debug, Clone)]
pub struct NewStoredMessage {
    pub mailbox_id: MailboxId,
    pub folder_id: FolderId,
    pub size: u64,
    pub received_at: UnixTime,
    pub flags: u32,
    pub blob_key: String,
    pub sealed_meta: Vec<u8>,
    /// The message carries a file made for the clinical system, which the
    /// practice's downloader is to fetch ([`ImportState`]).
    pub import_file: bool,
}

/// How far the practice's downloader has taken a message's import file
/// (../shared/reference/athen-original.md "Downloader state machine").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Made at unspool; not fetched yet.
    Waiting,
    /// Written into the clinical system's import folder.
    Downloaded,
    /// Taken out of the import folder by the clinical system.
    Imported,
    /// The downloader could not deliver it (the trail says why); it is
    /// offered again.
    Failed,
}

impl ImportState {
    pub const ALL: [ImportState; 4] = [
        Self::Waiting,
        Self::Downloaded,
        Self::Imported,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Downloaded => "downloaded",
            Self::Imported => "imported",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<ImportState> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A message with an import file, and where the downloader is with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFileRow {
    pub message: StoredMessage,
    pub state: ImportState,
    /// How many times the downloader reported it could not deliver it.
    pub failures: u32,
    pub changed_at: UnixTime,
}

/// What IMAP keeps of each message of a selected folder (and what the
/// folder's changes are told by): no sealed data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub id: MessageId,
    pub uid: u32,
    pub flags: u32,
    pub modseq: u64,
}

/// A change to messages' flags (RFC 9051 §6.4.6 STORE: `+FLAGS`,
/// `-FLAGS`, `FLAGS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagChange {
    Add(u32),
    Remove(u32),
    Replace(u32),
}

impl FlagChange {
    pub fn apply(self, flags: u32) -> u32 {
        match self {
            FlagChange::Add(f) => flags | f,
            FlagChange::Remove(f) => flags & !f,
            FlagChange::Replace(f) => f,
        }
    }
}

/// What a flag change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagsStored {
    /// Messages whose flags changed, as they are now (one new
    /// mod-sequence for the whole change).
    pub changed: Vec<IndexEntry>,
    /// UIDs left alone because they changed after the caller's
    /// `UNCHANGEDSINCE` (RFC 7162 §3.1.3).
    pub modified: Vec<u32>,
}

/// IMAP system flags (RFC 9051 §2.3.2) as bits.
pub mod flags {
    pub const SEEN: u32 = 1;
    pub const ANSWERED: u32 = 2;
    pub const FLAGGED: u32 = 4;
    pub const DELETED: u32 = 8;
    pub const DRAFT: u32 = 16;
    /// Keywords kept beside them (IMAP `$MDNSent`, RFC 3503: the read
    /// receipt is taken care of, so a mail program sends none of its own).
    pub const MDN_SENT: u32 = 32;
    pub const FORWARDED: u32 = 64;
    pub const JUNK: u32 = 128;
    pub const NOT_JUNK: u32 = 256;
}
