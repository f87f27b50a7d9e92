//! IMAP commands as the parser ([`crate::syntax`]) gives them: RFC 9051
//! §6 (and RFC 3501 §6 for IMAP4rev1), with the extensions this server
//! announces (see [`crate::session::CAPABILITIES`]).

use crate::sequence::SequenceSet;
use zeroize::Zeroizing;

/// One tagged command.
#[derive(Debug, PartialEq, Eq)]
pub struct Tagged {
    pub tag: String,
    pub command: Command,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    // Any state (RFC 9051 §6.1).
    Capability,
    Noop,
    Logout,
    /// RFC 2971.
    Id(Option<Vec<(String, Option<String>)>>),
    // Not authenticated (§6.2).
    StartTls,
    /// SASL mechanism, and the initial response of RFC 4959 (SASL-IR).
    Authenticate {
        mechanism: String,
        initial: Option<Zeroizing<Vec<u8>>>,
    },
    Login {
        user: String,
        password: Zeroizing<String>,
    },
    // Authenticated (§6.3).
    /// RFC 5161.
    Enable(Vec<String>),
    Select {
        mailbox: MailboxName,
        read_only: bool,
        params: SelectParams,
    },
    Create(MailboxName),
    Delete(MailboxName),
    Rename(MailboxName, MailboxName),
    Subscribe(MailboxName),
    Unsubscribe(MailboxName),
    List(ListCommand),
    /// IMAP4rev1 LSUB (RFC 3501 §6.3.9).
    Lsub {
        reference: MailboxName,
        pattern: MailboxName,
    },
    /// RFC 2342.
    Namespace,
    Status {
        mailbox: MailboxName,
        items: Vec<StatusItem>,
    },
    Append {
        mailbox: MailboxName,
        flags: Vec<Flag>,
        date: Option<i64>,
        message: Vec<u8>,
    },
    Idle,
    /// RFC 9208.
    GetQuota(String),
    GetQuotaRoot(MailboxName),
    SetQuota(String),
    // Selected (§6.4).
    Check,
    Close,
    /// RFC 3691.
    Unselect,
    /// `uids`: UID EXPUNGE (RFC 4315 §2.1).
    Expunge(Option<SequenceSet>),
    Search {
        uid: bool,
        search: SearchCommand,
    },
    Fetch {
        uid: bool,
        set: SequenceSet,
        items: FetchItems,
        /// RFC 7162 §3.1.4 CHANGEDSINCE, with VANISHED (§3.2.6).
        changed_since: Option<(u64, bool)>,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        unchanged_since: Option<u64>,
        action: StoreAction,
        silent: bool,
        flags: Vec<Flag>,
    },
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: MailboxName,
    },
    /// RFC 6851.
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: MailboxName,
    },
}

impl Command {
    /// The command's name, for logs and for "not in this state" answers.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Capability => "CAPABILITY",
            Command::Noop => "NOOP",
            Command::Logout => "LOGOUT",
            Command::Id(_) => "ID",
            Command::StartTls => "STARTTLS",
            Command::Authenticate { .. } => "AUTHENTICATE",
            Command::Login { .. } => "LOGIN",
            Command::Enable(_) => "ENABLE",
            Command::Select {
                read_only: false, ..
            } => "SELECT",
            Command::Select {
                read_only: true, ..
            } => "EXAMINE",
            Command::Create(_) => "CREATE",
            Command::Delete(_) => "DELETE",
            Command::Rename(..) => "RENAME",
            Command::Subscribe(_) => "SUBSCRIBE",
            Command::Unsubscribe(_) => "UNSUBSCRIBE",
            Command::List(_) => "LIST",
            Command::Lsub { .. } => "LSUB",
            Command::Namespace => "NAMESPACE",
            Command::Status { .. } => "STATUS",
            Command::Append { .. } => "APPEND",
            Command::Idle => "IDLE",
            Command::GetQuota(_) => "GETQUOTA",
            Command::GetQuotaRoot(_) => "GETQUOTAROOT",
            Command::SetQuota(_) => "SETQUOTA",
            Command::Check => "CHECK",
            Command::Close => "CLOSE",
            Command::Unselect => "UNSELECT",
            Command::Expunge(_) => "EXPUNGE",
            Command::Search { .. } => "SEARCH",
            Command::Fetch { .. } => "FETCH",
            Command::Store { .. } => "STORE",
            Command::Copy { .. } => "COPY",
            Command::Move { .. } => "MOVE",
        }
    }
}

/// A mailbox (folder) name as sent: raw bytes of an astring, decoded
/// from modified UTF-7 or UTF-8 by the session, which knows whether the
/// client enabled UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxName(pub Vec<u8>);

/// SELECT / EXAMINE parameters (RFC 7162 §3.1.8, §3.2.5).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SelectParams {
    pub condstore: bool,
    pub qresync: Option<Qresync>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Qresync {
    pub uid_validity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ListCommand {
    /// RFC 5258 selection options (SUBSCRIBED, SPECIAL-USE…).
    pub selection: Vec<String>,
    pub reference: MailboxName,
    pub patterns: Vec<MailboxName>,
    /// RFC 5258 return options (SPECIAL-USE, SUBSCRIBED, CHILDREN,
    /// STATUS (…)).
    pub return_special_use: bool,
    pub return_status: Option<Vec<StatusItem>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    Size,
    HighestModseq,
}

/// A flag as sent; the session maps it to the flags it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
    /// `\Recent` (IMAP4rev1 only; never stored).
    Recent,
    /// Any other, `\Extension` or keyword, as written.
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    Add,
    Remove,
    Replace,
}

/// What FETCH asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchItems {
    pub items: Vec<FetchItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    Uid,
    Flags,
    InternalDate,
    Rfc822Size,
    Envelope,
    /// BODY (no section): the non-extensible BODYSTRUCTURE.
    Body,
    BodyStructure,
    Modseq,
    /// RFC822 (= BODY[]), RFC822.HEADER (= BODY.PEEK[HEADER]),
    /// RFC822.TEXT (= BODY[TEXT]), answered under their own names.
    Rfc822(Rfc822Part),
    /// BODY[section]<partial> and BODY.PEEK; BINARY[...] (RFC 3516)
    /// decodes the part's transfer encoding.
    Section {
        section: Section,
        partial: Option<(u32, u32)>,
        peek: bool,
        binary: bool,
    },
    /// BINARY.SIZE[part] (RFC 3516).
    BinarySize(Vec<u32>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rfc822Part {
    Whole,
    Header,
    Text,
}

/// A body section (RFC 9051 §6.4.5): a part path, then what of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields { not: bool, fields: Vec<String> },
    Text,
    Mime,
}

/// SEARCH, with RFC 4731 (ESEARCH) return options.
#[derive(Debug, PartialEq, Eq)]
pub struct SearchCommand {
    /// `None`: a plain SEARCH, answered `* SEARCH`. `Some`: ESEARCH with
    /// these (an empty list means ALL).
    pub ret: Option<Vec<SearchReturn>>,
    pub charset: Option<String>,
    pub key: SearchKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchReturn {
    Min,
    Max,
    All,
    Count,
    Save,
}

/// RFC 9051 §6.4.4 search keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    And(Vec<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    Not(Box<SearchKey>),
    Sequence(SequenceSet),
    Uid(SequenceSet),
    /// Messages with (or, `false`, without) all of these system flags.
    Flags(u32, bool),
    /// A keyword flag (`$MDNSent`…), with or without.
    Keyword(String, bool),
    /// IMAP4rev1's NEW / RECENT / OLD: nothing is recent here.
    Recent(bool),
    New,
    Larger(u64),
    Smaller(u64),
    /// Internal date before / on / since a day (days since the epoch,
    /// in the server's time zone: UTC).
    Before(i64),
    On(i64),
    Since(i64),
    SentBefore(i64),
    SentOn(i64),
    SentSince(i64),
    Header(String, String),
    Body(String),
    Text(String),
    /// RFC 7162 §3.1.5.
    Modseq(u64),
}
