//! One IMAP connection: its states (RFC 9051 §3: not authenticated,
//! authenticated, selected, logout) and its commands.
//!
//! Logging in unlocks the mailbox as the web app's sign-in does: a
//! session in the vault's [`Sessions`] holds the mailbox secret, and the
//! connection holds only the session's token. Each command takes the
//! secret for as long as it runs, so when the session ends (log-out,
//! the idle or absolute timeout, the account stopped) the mailbox locks
//! and the connection is told `BYE`.
//!
//! Here: the connection's loop, STARTTLS, dispatching a command, IDLE.
//! The commands by job: `login.rs` (LOGIN, AUTHENTICATE, the borrowed
//! secret), `folders.rs` (names, LIST, STATUS, QUOTA, SELECT), `read.rs`
//! (catching up, FETCH, SEARCH), `write.rs` (STORE, EXPUNGE, COPY, MOVE,
//! APPEND).

mod folders;
mod login;
mod read;
mod write;

use crate::ImapContext;
use crate::command::*;
use crate::fetch::{self, Candidate, Depth};
use crate::reader::{Frame, Io, Limits, Wire};
use crate::response::{self, FLAG_NAMES};
use crate::selected::{Selected, Telling};
use crate::sequence::SequenceSet;
use crate::syntax;
use athen_core::MailboxId;
use athen_core::account::{Account, Doors};
use athen_core::mailbox::{FlagChange, Folder, IndexEntry, SpecialFolder, StoredMessage, flags};
use athen_mail::live::MailboxState;
use athen_vault::VaultError;
use athen_vault::keys::MailboxSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::watch;
use zeroize::Zeroizing;

/// RFC 9051 §5.4: at least 30 minutes once logged in; before that, a
/// connection that says nothing is let go sooner.
const IDLE_AUTHENTICATED: Duration = Duration::from_secs(30 * 60);
const IDLE_UNAUTHENTICATED: Duration = Duration::from_secs(60);
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);
/// RFC 9051 §4.3 recommends accepting lines of at least 8 KiB; a long
/// UID set from a client resynchronising is the usual long line.
const MAX_LINE: usize = 256 * 1024;
/// Literals of commands other than APPEND (a password, a search string).
const MAX_SMALL_LITERALS: usize = 64 * 1024;
/// How often an idle client's folder is looked at for changes made by
/// another process, and its session for having ended.
const IDLE_POLL: Duration = Duration::from_secs(2);
/// What a client may send while idling before its DONE line ends.
const MAX_IDLE_INPUT: usize = 8 * 1024;
/// How often a logged-in connection checks that its login may still log
/// in (a staff login turned off from the command line).
const ACCOUNT_RECHECK: Duration = Duration::from_secs(30);
/// APPEND to Sent looks this far back for the copy the server filed.
const SENT_LOOKBACK: u32 = 200;

/// Extensions of a logged-in (or TLS-protected) connection.
const CAPS_TLS: &str = "IMAP4rev1 IMAP4rev2 AUTH=PLAIN SASL-IR LITERAL+ ENABLE IDLE NAMESPACE ID UIDPLUS MOVE SPECIAL-USE CONDSTORE QRESYNC ESEARCH UNSELECT CHILDREN LIST-EXTENDED LIST-STATUS STATUS=SIZE BINARY UTF8=ACCEPT QUOTA QUOTA=RES-STORAGE";
/// Before STARTTLS nothing may log in (RFC 9051 §6.2.3 LOGINDISABLED).
const CAPS_PLAIN: &str = "IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED LITERAL+ ID ENABLE";

struct User {
    token: Zeroizing<String>,
    login: String,
    account: Account,
    state: watch::Receiver<MailboxState>,
    checked: Instant,
}

pub(crate) struct Conn {
    ctx: Arc<ImapContext>,
    peer: SocketAddr,
    wire: Wire,
    tls: bool,
    user: Option<User>,
    selected: Option<Selected>,
    utf8: bool,
    condstore: bool,
    qresync: bool,
    rev2: bool,
}

enum Next {
    Go,
    Close,
}

/// What went wrong in a command: a tagged NO (with its response code),
/// or the session is over.
enum Failure {
    No(String),
    Bad(String),
    SessionEnded,
}

impl From<athen_core::StoreError> for Failure {
    fn from(e: athen_core::StoreError) -> Self {
        tracing::error!(error = %e, "IMAP command failed in the store");
        Failure::No("[SERVERBUG] The server could not do that; the error is logged".into())
    }
}

impl From<athen_mail::MailError> for Failure {
    fn from(e: athen_mail::MailError) -> Self {
        tracing::error!(error = %e, "IMAP command failed");
        Failure::No("[SERVERBUG] The server could not do that; the error is logged".into())
    }
}

impl From<std::io::Error> for Failure {
    fn from(_: std::io::Error) -> Self {
        Failure::SessionEnded
    }
}

type Done = Result<String, Failure>;

/// Serves one connection from accept to close.
pub async fn serve(ctx: Arc<ImapContext>, tcp: TcpStream, peer: SocketAddr, implicit_tls: bool) {
    let io = if implicit_tls {
        match tokio::time::timeout(TLS_HANDSHAKE, ctx.tls.accept(tcp)).await {
            Ok(Ok(s)) => Io::Tls(Box::new(s)),
            _ => return,
        }
    } else {
        Io::Plain(tcp)
    };
    let mut conn = Conn {
        ctx,
        peer,
        wire: Wire::new(io),
        tls: implicit_tls,
        user: None,
        selected: None,
        utf8: false,
        condstore: false,
        qresync: false,
        rev2: false,
    };
    let greeting = format!("* OK [CAPABILITY {}] ATHEN IMAP ready\r\n", conn.caps());
    if conn.wire.send(greeting.as_bytes()).await.is_ok() {
        conn.run().await;
    }
    conn.end_session();
    conn.wire.io.shutdown().await;
}

impl Conn {
    /// What this connection may do now; APPENDLIMIT (RFC 7889) is the
    /// server's message size limit.
    fn caps(&self) -> String {
        if self.tls {
            format!(
                "{CAPS_TLS} APPENDLIMIT={}",
                self.ctx.config.max_message_bytes
            )
        } else {
            CAPS_PLAIN.to_string()
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            line: MAX_LINE,
            // Only a logged-in client may send a message-sized literal.
            literals: if self.user.is_some() {
                self.ctx.config.max_message_bytes
            } else {
                MAX_SMALL_LITERALS
            },
        }
    }

    async fn run(&mut self) {
        loop {
            let wait = if self.user.is_some() {
                IDLE_AUTHENTICATED
            } else {
                IDLE_UNAUTHENTICATED
            };
            let frame =
                match tokio::time::timeout(wait, self.wire.read_command(self.limits())).await {
                    Ok(Ok(f)) => f,
                    Ok(Err(_)) => return,
                    Err(_) => {
                        let _ = self
                            .wire
                            .send(b"* BYE Autologout: idle for too long\r\n")
                            .await;
                        return;
                    }
                };
            let next = match frame {
                Frame::Eof => return,
                Frame::LineTooLong(tag) => {
                    let msg = format!(
                        "{} BAD [TOOBIG] The line is longer than {MAX_LINE} bytes\r\n",
                        tag.as_deref().unwrap_or("*")
                    );
                    self.wire.send(msg.as_bytes()).await.map(|_| Next::Go)
                }
                Frame::LiteralTooLarge { tag, closing } => {
                    let msg = format!(
                        "{} NO [TOOBIG] That is larger than this server accepts ({} bytes{})\r\n",
                        tag.as_deref().unwrap_or("*"),
                        self.limits().literals,
                        if self.user.is_none() {
                            " before logging in"
                        } else {
                            ""
                        }
                    );
                    let sent = self.wire.send(msg.as_bytes()).await;
                    if closing {
                        let _ = self
                            .wire
                            .send(b"* BYE The rest of that literal cannot be read\r\n")
                            .await;
                        return;
                    }
                    sent.map(|_| Next::Go)
                }
                Frame::Command(bytes) => match syntax::parse(&bytes) {
                    Ok(t) => self.command(t).await,
                    Err(e) => {
                        let msg =
                            format!("{} BAD {}\r\n", e.tag.as_deref().unwrap_or("*"), e.message);
                        self.wire.send(msg.as_bytes()).await.map(|_| Next::Go)
                    }
                },
            };
            match next {
                Ok(Next::Go) => {}
                Ok(Next::Close) | Err(_) => return,
            }
        }
    }

    /// Ends the vault session (logout, or the connection went): the
    /// mailbox locks if this was its last.
    fn end_session(&mut self) {
        if let Some(u) = self.user.take() {
            self.ctx.sessions.close(&u.token);
            self.ctx.live.wake(u.account.mailbox_id);
            tracing::info!(login = %u.login, "IMAP session ended");
        }
        self.selected = None;
    }

    async fn command(&mut self, t: Tagged) -> std::io::Result<Next> {
        let Tagged { tag, command } = t;
        match command {
            Command::Logout => {
                self.end_session();
                self.wire
                    .send(format!("* BYE ATHEN logging out; the mailbox locks if no one else is signed in\r\n{tag} OK LOGOUT completed\r\n").as_bytes())
                    .await?;
                return Ok(Next::Close);
            }
            Command::StartTls if !self.tls => return self.starttls(&tag).await,
            _ => {}
        }
        let line = match self.dispatch(&tag, command).await {
            Ok(text) => format!("{tag} OK {text}\r\n"),
            Err(Failure::No(text)) => format!("{tag} NO {text}\r\n"),
            Err(Failure::Bad(text)) => format!("{tag} BAD {text}\r\n"),
            Err(Failure::SessionEnded) => {
                self.end_session();
                self.wire
                    .send(b"* BYE Your session has ended (logged out elsewhere, idle too long, or the login was turned off); log in again\r\n")
                    .await?;
                return Ok(Next::Close);
            }
        };
        self.wire.send(line.as_bytes()).await?;
        Ok(Next::Go)
    }

    /// RFC 9051 §6.2.1: the TLS handshake starts right after the tagged
    /// OK; anything the client pipelined behind STARTTLS is dropped, never
    /// run as if it had come over TLS.
    async fn starttls(&mut self, tag: &str) -> std::io::Result<Next> {
        self.wire
            .send(format!("{tag} OK Begin TLS negotiation now\r\n").as_bytes())
            .await?;
        if self.wire.discard_buffered() {
            tracing::info!(peer = %self.peer, "IMAP client sent commands behind STARTTLS; they were dropped");
        }
        let Io::Plain(tcp) = std::mem::replace(&mut self.wire.io, Io::Closed) else {
            return Ok(Next::Close);
        };
        match tokio::time::timeout(TLS_HANDSHAKE, self.ctx.tls.accept(tcp)).await {
            Ok(Ok(tls)) => {
                self.wire.io = Io::Tls(Box::new(tls));
                self.tls = true;
                Ok(Next::Go)
            }
            _ => Ok(Next::Close),
        }
    }

    async fn dispatch(&mut self, tag: &str, command: Command) -> Done {
        let logged_in = self.user.is_some();
        match command {
            Command::Capability => {
                self.out(format!("* CAPABILITY {}\r\n", self.caps())).await?;
                Ok("CAPABILITY completed".into())
            }
            Command::Noop | Command::Check => {
                if logged_in {
                    self.secret()?;
                    self.catch_up(true).await?;
                }
                Ok(format!("{} completed", if matches!(command, Command::Noop) { "NOOP" } else { "CHECK" }))
            }
            Command::Logout => Ok("LOGOUT completed".into()),
            Command::Id(fields) => {
                if let Some(name) = fields
                    .iter()
                    .flatten()
                    .find(|(k, _)| k.eq_ignore_ascii_case("name"))
                    .and_then(|(_, v)| v.clone())
                {
                    tracing::debug!(client = %name.chars().take(64).collect::<String>(), "IMAP client");
                }
                self.out(format!("* ID (\"name\" \"ATHEN\" \"version\" \"{}\")\r\n", env!("CARGO_PKG_VERSION"))).await?;
                Ok("ID completed".into())
            }
            Command::StartTls => Err(Failure::Bad("TLS is on already".into())),
            Command::Login { user, password } => self.login(&user, &password).await,
            Command::Authenticate { mechanism, initial } => self.authenticate(&mechanism, initial).await,
            _ if !logged_in => Err(Failure::Bad("Log in first (LOGIN or AUTHENTICATE PLAIN)".into())),
            Command::Enable(caps) => {
                let mut on = Vec::new();
                for c in caps {
                    match c.as_str() {
                        "CONDSTORE" => self.condstore = true,
                        "QRESYNC" => {
                            self.qresync = true;
                            self.condstore = true;
                        }
                        "UTF8=ACCEPT" => self.utf8 = true,
                        "IMAP4REV2" => self.rev2 = true,
                        _ => continue,
                    }
                    on.push(c);
                }
                self.out(format!("* ENABLED {}\r\n", on.join(" "))).await?;
                Ok("ENABLE completed".into())
            }
            Command::Select { mailbox, read_only, params } => self.select(&mailbox, read_only, params).await,
            Command::Create(m) => {
                let exists = self.folder(&m).await.is_ok();
                Err(Failure::No(if exists {
                    "[ALREADYEXISTS] That folder is there already".into()
                } else {
                    "[CANNOT] ATHEN keeps the six folders of the web app (INBOX, Sent, Drafts, Downloaded, Archive, Trash); folders cannot be added".into()
                }))
            }
            Command::Delete(_) | Command::Rename(..) => Err(Failure::No(
                "[CANNOT] ATHEN keeps the six folders of the web app; they cannot be renamed or removed".into(),
            )),
            Command::Subscribe(m) | Command::Unsubscribe(m) => {
                self.folder(&m).await?;
                Ok("Every folder is always subscribed".into())
            }
            Command::List(l) => self.list(l).await,
            Command::Lsub { reference, pattern } => {
                self.list(ListCommand {
                    selection: vec!["\u{0}LSUB".into()],
                    reference,
                    patterns: vec![pattern],
                    return_special_use: false,
                    return_status: None,
                })
                .await
            }
            Command::Namespace => {
                self.out("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n".to_string()).await?;
                Ok("NAMESPACE completed".into())
            }
            Command::Status { mailbox, items } => {
                let f = self.folder(&mailbox).await?;
                let line = self.status_line(&f, &items).await?;
                self.out(line).await?;
                Ok("STATUS completed".into())
            }
            Command::Append { mailbox, flags, date, message } => self.append(&mailbox, &flags, date, message).await,
            Command::Idle => self.idle().await,
            Command::GetQuotaRoot(m) => {
                self.folder(&m).await?;
                let name = self.display_name(&m);
                self.out(format!("* QUOTAROOT {name} \"\"\r\n")).await?;
                let q = self.quota_line().await?;
                self.out(q).await?;
                Ok("GETQUOTAROOT completed".into())
            }
            Command::GetQuota(root) if root.is_empty() => {
                let q = self.quota_line().await?;
                self.out(q).await?;
                Ok("GETQUOTA completed".into())
            }
            Command::GetQuota(_) => Err(Failure::No("[NONEXISTENT] The only quota root is \"\"".into())),
            Command::SetQuota(_) => Err(Failure::No("[NOPERM] The server administrator sets the quota".into())),
            _ if self.selected.is_none() => Err(Failure::Bad("Select a folder first (SELECT or EXAMINE)".into())),
            Command::Close | Command::Unselect => {
                let close = matches!(command, Command::Close);
                self.secret()?;
                if close && self.selected.as_ref().is_some_and(|s| !s.read_only) {
                    // RFC 9051 §6.4.1: CLOSE removes \Deleted silently.
                    let uids = self.deleted_uids(None);
                    self.expunge_uids(&uids, false).await?;
                }
                self.selected = None;
                Ok(format!("{} completed", if close { "CLOSE" } else { "UNSELECT" }))
            }
            Command::Expunge(uids) => {
                self.secret()?;
                if self.selected.as_ref().is_some_and(|s| s.read_only) {
                    return Err(Failure::No("[READ-ONLY] The folder was opened with EXAMINE".into()));
                }
                let targets = self.deleted_uids(uids.as_ref());
                self.expunge_uids(&targets, true).await?;
                self.catch_up(true).await?;
                Ok("EXPUNGE completed".into())
            }
            Command::Search { uid, search } => self.search(tag, uid, search).await,
            Command::Fetch { uid, set, items, changed_since } => self.fetch(uid, &set, items, changed_since).await,
            Command::Store { uid, set, unchanged_since, action, silent, flags } => {
                self.store(uid, &set, unchanged_since, action, silent, &flags).await
            }
            Command::Copy { uid, set, mailbox } => self.copy(uid, &set, &mailbox, false).await,
            Command::Move { uid, set, mailbox } => self.copy(uid, &set, &mailbox, true).await,
        }
    }

    async fn out(&mut self, s: String) -> Result<(), Failure> {
        self.wire
            .write(s.as_bytes())
            .await
            .map_err(|_| Failure::SessionEnded)
    }

    async fn idle(&mut self) -> Done {
        self.checked_secret().await?;
        self.wire.send(b"+ idling\r\n").await?;
        let started = Instant::now();
        loop {
            self.catch_up(true).await?;
            self.wire.flush().await?;
            if self.wire.has_buffered_line() {
                break;
            }
            let Some(u) = self.user.as_mut() else {
                return Err(Failure::SessionEnded);
            };
            let mut state = u.state.clone();
            tokio::select! {
                r = self.wire.fill() => {
                    if !r? {
                        return Err(Failure::SessionEnded);
                    }
                }
                r = state.changed() => {
                    // The worker is gone (the mailbox locked, or it is
                    // about to): look again later, do not spin.
                    if r.is_err() {
                        tokio::time::sleep(IDLE_POLL).await;
                    }
                }
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
            if self.wire.buffered() > MAX_IDLE_INPUT && !self.wire.has_buffered_line() {
                // Only DONE may come now; this is not it, and it is long.
                return Err(Failure::SessionEnded);
            }
            let alive = self
                .user
                .as_ref()
                .is_some_and(|u| self.ctx.sessions.alive(&u.token));
            if !alive {
                return Err(Failure::SessionEnded);
            }
            if started.elapsed() >= IDLE_AUTHENTICATED {
                return Err(Failure::SessionEnded);
            }
            if self.wire.has_buffered_line() {
                break;
            }
        }
        let line = self.wire.read_line(64).await?;
        match line.as_deref().map(|l| l.as_slice()) {
            Some(l) if l.eq_ignore_ascii_case(b"DONE") => {
                // A command after DONE counts as use again.
                self.secret()?;
                Ok("IDLE terminated".into())
            }
            _ => Err(Failure::Bad("Expected DONE to end IDLE".into())),
        }
    }
}

/// RFC 9051 §6.3.9 LIST patterns: `*` matches anything, `%` anything but
/// the hierarchy delimiter; INBOX is matched case-insensitively.
fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('%', rest)) => (0..=n.len())
                .take_while(|i| *i == 0 || n[i - 1] != '/')
                .any(|i| go(rest, &n[i..])),
            Some((c, rest)) => {
                n.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &n[1..])
            }
        }
    }
    let p: Vec<char> = pattern.chars().take(256).collect();
    let n: Vec<char> = name.chars().collect();
    // A pattern of many wildcards cannot take long on six short names.
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn list_patterns() {
        assert!(wildcard("*", "INBOX"));
        assert!(wildcard("inbox", "INBOX"));
        assert!(wildcard("S%", "Sent"));
        assert!(!wildcard("S%", "Trash"));
        assert!(wildcard("%", "Drafts"));
        assert!(!wildcard("Sent/%", "Sent"));
    }
}
