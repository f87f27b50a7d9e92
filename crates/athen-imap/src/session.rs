//! One IMAP connection: its states (RFC 9051 §3: not authenticated,
//! authenticated, selected, logout) and its commands.
//!
//! Logging in unlocks the mailbox as the web app's sign-in does: a
//! session in the vault's [`Sessions`] holds the mailbox secret, and the
//! connection holds only the session's token. Each command takes the
//! secret for as long as it runs, so when the session ends (log-out,
//! the idle or absolute timeout, the account stopped) the mailbox locks
//! and the connection is told `BYE`.

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

    /// The session's mailbox secret, for this command; the session ended
    /// if there is none (it also counts as use, keeping it open).
    fn secret(&mut self) -> Result<Arc<MailboxSecret>, Failure> {
        let u = self.user.as_ref().ok_or(Failure::SessionEnded)?;
        match self.ctx.sessions.get(&u.token) {
            Some((_, secret)) => Ok(secret),
            None => Err(Failure::SessionEnded),
        }
    }

    /// The secret, after checking (now and then) that the login may still
    /// log in.
    async fn checked_secret(&mut self) -> Result<Arc<MailboxSecret>, Failure> {
        let secret = self.secret()?;
        let Some(u) = self.user.as_mut() else {
            return Err(Failure::SessionEnded);
        };
        if u.checked.elapsed() >= ACCOUNT_RECHECK {
            let session = self
                .ctx
                .sessions
                .get(&u.token)
                .map(|(s, _)| s)
                .ok_or(Failure::SessionEnded)?;
            let login = session.login_id;
            let mut ok = self
                .ctx
                .store
                .account_of_live_login(login)
                .await?
                .is_some_and(|a| {
                    a.id == u.account.id
                        && a.status.may_log_in()
                        && a.mailbox_id == u.account.mailbox_id
                });
            // An app token revoked elsewhere (the command line, another
            // node) ends the sessions it opened.
            if ok && session.kind == athen_core::account::CredentialKind::AppToken {
                ok = self
                    .ctx
                    .store
                    .credential(session.credential)
                    .await?
                    .is_some_and(|c| c.revoked_at.is_none());
            }
            if !ok {
                self.ctx.sessions.close_login(login);
                return Err(Failure::SessionEnded);
            }
            u.checked = Instant::now();
        }
        Ok(secret)
    }

    fn mailbox(&self) -> Result<MailboxId, Failure> {
        self.user
            .as_ref()
            .map(|u| u.account.mailbox_id)
            .ok_or(Failure::SessionEnded)
    }

    async fn login(&mut self, user: &str, password: &str) -> Done {
        if !self.tls {
            return Err(Failure::No(
                "[PRIVACYREQUIRED] Use STARTTLS (or port 993) before logging in".into(),
            ));
        }
        if self.user.is_some() {
            return Err(Failure::Bad("You are logged in already".into()));
        }
        let unlocked = match self
            .ctx
            .authenticator
            .unlock(user, password, Some(self.peer.ip()), Doors::IMAP)
            .await
        {
            Ok(u) => u,
            Err(VaultError::BadCredential) => {
                return Err(Failure::No(
                    "[AUTHENTICATIONFAILED] The user name or password is not right".into(),
                ));
            }
            Err(VaultError::NotThisDoor(why)) => {
                return Err(Failure::No(format!("[AUTHENTICATIONFAILED] {why}")));
            }
            Err(VaultError::SecondStepNeeded) => {
                return Err(Failure::No(
                    "[AUTHENTICATIONFAILED] This login signs in in two steps: use an app token (made in Settings) as the password".into(),
                ));
            }
            Err(VaultError::Throttled { retry_after_secs }) => {
                return Err(Failure::No(format!(
                    "[UNAVAILABLE] Too many failed log-ins; try again in {retry_after_secs} seconds"
                )));
            }
            Err(VaultError::AccountNotActive(status)) => {
                return Err(Failure::No(format!(
                    "[AUTHORIZATIONFAILED] This account is {status}; contact the server administrator"
                )));
            }
            Err(e) => {
                tracing::error!(error = %e, "IMAP log-in failed");
                return Err(Failure::No(
                    "[UNAVAILABLE] The server could not log you in; try again later".into(),
                ));
            }
        };
        let account = unlocked.account.clone();
        let login = unlocked.login.name.clone();
        let token = self
            .ctx
            .sessions
            .open(
                unlocked,
                athen_vault::sessions::Via::Imap,
                Some(self.peer.ip()),
            )
            .map_err(|e| {
                tracing::error!(error = %e, "IMAP session could not open");
                Failure::No("[UNAVAILABLE] The server could not log you in; try again later".into())
            })?;
        let secret = self
            .ctx
            .sessions
            .unlocked(account.mailbox_id)
            .ok_or_else(|| {
                Failure::No("[UNAVAILABLE] The mailbox locked at once; log in again".into())
            })?;
        let state = self.ctx.live.opened(&account, &secret);
        drop(secret);
        tracing::info!(login = %login, "IMAP session opened");
        self.user = Some(User {
            token,
            login,
            account,
            state,
            checked: Instant::now(),
        });
        Ok(format!(
            "[CAPABILITY {}] Logged in; the mailbox is unlocked",
            CAPS_TLS
        ))
    }

    async fn authenticate(&mut self, mechanism: &str, initial: Option<Zeroizing<Vec<u8>>>) -> Done {
        use base64::Engine;
        if !self.tls {
            return Err(Failure::No(
                "[PRIVACYREQUIRED] Use STARTTLS (or port 993) before logging in".into(),
            ));
        }
        if mechanism != "PLAIN" {
            return Err(Failure::No(
                "[CANNOT] Only AUTHENTICATE PLAIN is offered".into(),
            ));
        }
        let response = match initial {
            Some(r) => r,
            None => {
                self.wire.send(b"+ \r\n").await?;
                match self.wire.read_line(8192).await? {
                    Some(line) => line,
                    None => return Err(Failure::Bad("The response is too long".into())),
                }
            }
        };
        // RFC 4959: "=" is an empty initial response; RFC 9051 §6.2.2: "*" cancels.
        if response.as_slice() == b"*" {
            return Err(Failure::Bad("Authentication cancelled".into()));
        }
        let raw = if response.as_slice() == b"=" {
            Zeroizing::new(Vec::new())
        } else {
            Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(response.as_slice())
                    .map_err(|_| Failure::Bad("The response is not base64".into()))?,
            )
        };
        // RFC 4616: authzid NUL authcid NUL password.
        let mut parts = raw.split(|b| *b == 0);
        let (Some(authz), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Failure::Bad(
                "PLAIN needs authorisation id, user name and password".into(),
            ));
        };
        if !authz.is_empty() && authz != user {
            return Err(Failure::No(
                "[AUTHORIZATIONFAILED] Logging in as someone else is not allowed".into(),
            ));
        }
        let user = String::from_utf8_lossy(user).into_owned();
        let password = Zeroizing::new(String::from_utf8_lossy(password).into_owned());
        self.login(&user, &password).await
    }

    /// The folder a name names: INBOX in any case; the others as the web
    /// app names them (case does not matter either).
    async fn folder(&mut self, name: &MailboxName) -> Result<Folder, Failure> {
        let wanted = self.decode_name(name)?;
        let mailbox = self.mailbox()?;
        self.ctx
            .store
            .folders(mailbox)
            .await?
            .into_iter()
            .find(|f| f.name.eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| Failure::No(format!("[NONEXISTENT] There is no folder {wanted:?}")))
    }

    fn decode_name(&self, name: &MailboxName) -> Result<String, Failure> {
        let text = std::str::from_utf8(&name.0)
            .map_err(|_| Failure::Bad("The folder name is not UTF-8".into()))?;
        if self.utf8 {
            return Ok(text.to_string());
        }
        crate::utf7::decode(text).ok_or_else(|| {
            Failure::Bad("The folder name is not valid modified UTF-7 (RFC 3501 §5.1.3)".into())
        })
    }

    fn display_name(&self, name: &MailboxName) -> String {
        let mut out = Vec::new();
        response::string(&mut out, &name.0, self.utf8);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The name a folder is listed under.
    fn listed_name(&self, f: &Folder) -> String {
        let name = if f.name == SpecialFolder::Inbox.name() {
            "INBOX".to_string()
        } else if self.utf8 {
            f.name.clone()
        } else {
            crate::utf7::encode(&f.name)
        };
        let mut out = Vec::new();
        response::string(&mut out, name.as_bytes(), self.utf8);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn special_use(f: &Folder) -> Option<&'static str> {
        // RFC 6154 §2.
        match f.name.as_str() {
            "Sent" => Some("\\Sent"),
            "Drafts" => Some("\\Drafts"),
            "Archive" => Some("\\Archive"),
            "Trash" => Some("\\Trash"),
            _ => None,
        }
    }

    async fn list(&mut self, l: ListCommand) -> Done {
        self.secret()?;
        let lsub = l.selection.iter().any(|s| s == "\u{0}LSUB");
        let verb = if lsub { "LSUB" } else { "LIST" };
        let special_only = l.selection.iter().any(|s| s == "SPECIAL-USE");
        let mailbox = self.mailbox()?;
        let folders = self.ctx.store.folders(mailbox).await?;
        let reference = self.decode_name(&l.reference)?;
        let mut lines = Vec::new();
        for pattern in &l.patterns {
            let pattern = self.decode_name(pattern)?;
            if pattern.is_empty() {
                // RFC 9051 §6.3.9: the hierarchy delimiter and root.
                lines.push(format!("* {verb} (\\Noselect) \"/\" \"\"\r\n"));
                continue;
            }
            let full = format!("{reference}{pattern}");
            for f in &folders {
                let name = if f.name == "Inbox" {
                    "INBOX"
                } else {
                    f.name.as_str()
                };
                if !wildcard(&full, name) {
                    continue;
                }
                let special = Self::special_use(f);
                if special_only && special.is_none() {
                    continue;
                }
                let mut attrs = vec!["\\HasNoChildren"];
                if !lsub && l.selection.iter().any(|s| s == "SUBSCRIBED") {
                    attrs.push("\\Subscribed");
                }
                if let Some(s) = special
                    && (l.return_special_use || special_only || !lsub)
                {
                    attrs.push(s);
                }
                let line = format!(
                    "* {verb} ({}) \"/\" {}\r\n",
                    attrs.join(" "),
                    self.listed_name(f)
                );
                if !lines.contains(&line) {
                    lines.push(line);
                    if let Some(items) = &l.return_status {
                        lines.push(self.status_line(f, items).await?);
                    }
                }
            }
        }
        for line in lines {
            self.out(line).await?;
        }
        Ok(format!("{verb} completed"))
    }

    async fn status_line(&mut self, f: &Folder, items: &[StatusItem]) -> Result<String, Failure> {
        self.secret()?;
        let mailbox = self.mailbox()?;
        let index = self.ctx.store.folder_index(mailbox, f.id).await?;
        let mut parts = Vec::new();
        for item in items {
            parts.push(match item {
                StatusItem::Messages => format!("MESSAGES {}", index.len()),
                StatusItem::Recent => "RECENT 0".to_string(),
                StatusItem::UidNext => format!("UIDNEXT {}", f.uid_next),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", f.uid_validity),
                StatusItem::Unseen => format!(
                    "UNSEEN {}",
                    index.iter().filter(|e| e.flags & flags::SEEN == 0).count()
                ),
                StatusItem::Deleted => format!(
                    "DELETED {}",
                    index
                        .iter()
                        .filter(|e| e.flags & flags::DELETED != 0)
                        .count()
                ),
                StatusItem::HighestModseq => format!("HIGHESTMODSEQ {}", f.highest_modseq),
                StatusItem::Size => {
                    let rows = self
                        .ctx
                        .store
                        .messages_in_uid_range(mailbox, f.id, 1, u32::MAX)
                        .await?;
                    format!("SIZE {}", rows.iter().map(|r| r.size).sum::<u64>())
                }
            });
        }
        Ok(format!(
            "* STATUS {} ({})\r\n",
            self.listed_name(f),
            parts.join(" ")
        ))
    }

    async fn quota_line(&mut self) -> Result<String, Failure> {
        self.secret()?;
        let used = self.ctx.store.mailbox_usage(self.mailbox()?).await?;
        // RFC 9208 §5.1: STORAGE is in units of 1024 octets.
        Ok(format!(
            "* QUOTA \"\" (STORAGE {} {})\r\n",
            used.div_ceil(1024),
            self.ctx.config.quota_bytes / 1024
        ))
    }

    async fn select(&mut self, name: &MailboxName, read_only: bool, params: SelectParams) -> Done {
        let had = self.selected.take().is_some();
        if had && (self.qresync || self.rev2) {
            // RFC 7162 §3.2.11, RFC 9051 §7.1: the old folder is closed.
            self.out("* OK [CLOSED] Previous folder closed\r\n".into())
                .await?;
        }
        if params.condstore {
            self.condstore = true;
        }
        if params.qresync.is_some() && !self.qresync {
            return Err(Failure::Bad(
                "ENABLE QRESYNC first (RFC 7162 §3.2.3)".into(),
            ));
        }
        self.checked_secret().await?;
        let folder = self.folder(name).await?;
        let mailbox = self.mailbox()?;
        if folder.name == SpecialFolder::Inbox.name() {
            // Right after log-in, wait a little for the newest letters to
            // be unspooled, as the web app does.
            if let Some(u) = self.user.as_mut() {
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    u.state.wait_for(|s| s.first_page_ready),
                )
                .await;
            }
        }
        let view =
            Selected::open(self.ctx.store.as_ref(), &self.ctx.index, folder, read_only).await?;
        let mut out = String::new();
        out.push_str(&format!("* FLAGS ({FLAG_NAMES})\r\n"));
        if read_only {
            out.push_str("* OK [PERMANENTFLAGS ()] Read-only\r\n");
        } else {
            out.push_str(&format!(
                "* OK [PERMANENTFLAGS ({FLAG_NAMES})] Flags kept\r\n"
            ));
        }
        out.push_str(&format!("* {} EXISTS\r\n", view.messages.len()));
        if !self.rev2 {
            out.push_str("* 0 RECENT\r\n");
            if let Some(i) = view
                .messages
                .iter()
                .position(|m| m.flags & flags::SEEN == 0)
            {
                out.push_str(&format!("* OK [UNSEEN {}] First unseen\r\n", i + 1));
            }
        }
        out.push_str(&format!(
            "* OK [UIDVALIDITY {}] UIDs valid\r\n",
            view.folder.uid_validity
        ));
        out.push_str(&format!(
            "* OK [UIDNEXT {}] Predicted next UID\r\n",
            view.folder.uid_next
        ));
        out.push_str(&format!(
            "* OK [HIGHESTMODSEQ {}] Highest\r\n",
            view.folder.highest_modseq
        ));
        self.out(out).await?;
        if let Some(q) = params.qresync
            && q.uid_validity == view.folder.uid_validity
        {
            // RFC 7162 §3.2.5.1: what went and what changed since then.
            let mut gone = self
                .ctx
                .store
                .expunged_since(mailbox, view.id(), q.modseq)
                .await?;
            if let Some(known) = &q.known_uids {
                gone.retain(|u| known.contains(*u, u32::MAX));
            }
            if !gone.is_empty() {
                self.out(format!(
                    "* VANISHED (EARLIER) {}\r\n",
                    SequenceSet::compact(&gone)
                ))
                .await?;
            }
            let mut buf = Vec::new();
            for e in view.messages.iter().filter(|e| e.modseq > q.modseq) {
                view.write_flags(&mut buf, e, true);
            }
            self.wire.write(&buf).await?;
        }
        self.selected = Some(view);
        Ok(if read_only {
            "[READ-ONLY] EXAMINE completed".into()
        } else {
            "[READ-WRITE] SELECT completed".into()
        })
    }

    fn telling(&self, allow_expunge: bool) -> Telling {
        Telling {
            qresync: self.qresync,
            condstore: self.condstore,
            allow_expunge,
        }
    }

    /// Tells the client what changed in the selected folder.
    async fn catch_up(&mut self, allow_expunge: bool) -> Result<(), Failure> {
        let how = self.telling(allow_expunge);
        let mailbox = self.mailbox()?;
        let Some(view) = self.selected.as_mut() else {
            return Ok(());
        };
        let mut out = Vec::new();
        view.catch_up(self.ctx.store.as_ref(), mailbox, how, &mut out)
            .await?;
        self.wire.write(&out).await?;
        Ok(())
    }

    /// The UIDs a set names: sequence numbers (or UIDs) of the view. A
    /// sequence number past the last message is an error (RFC 9051 §9,
    /// `seq-number`: the server should answer BAD); UIDs that are not
    /// there are simply not acted on.
    fn targets(&self, uid: bool, set: &SequenceSet) -> Result<Vec<u32>, Failure> {
        let Some(view) = &self.selected else {
            return Ok(Vec::new());
        };
        if uid {
            return Ok(set.pick(&view.uids(), view.largest_uid()));
        }
        let n = view.messages.len() as u32;
        let past = set
            .0
            .iter()
            .flat_map(|(a, b)| [a, b])
            .find_map(|x| match x {
                crate::sequence::SeqNumber::Value(v) if *v > n => Some(*v),
                _ => None,
            });
        if let Some(v) = past {
            return Err(Failure::Bad(format!(
                "There is no message {v}: the folder has {n}"
            )));
        }
        let seqs: Vec<u32> = (1..=n).collect();
        Ok(set
            .pick(&seqs, n)
            .into_iter()
            .filter_map(|s| view.messages.get(s as usize - 1).map(|m| m.uid))
            .collect())
    }

    fn deleted_uids(&self, within: Option<&SequenceSet>) -> Vec<u32> {
        let Some(view) = &self.selected else {
            return Vec::new();
        };
        let largest = view.largest_uid();
        view.messages
            .iter()
            .filter(|m| m.flags & flags::DELETED != 0)
            .filter(|m| within.is_none_or(|s| s.contains(m.uid, largest)))
            .map(|m| m.uid)
            .collect()
    }

    async fn expunge_uids(&mut self, uids: &[u32], tell: bool) -> Result<(), Failure> {
        if uids.is_empty() {
            return Ok(());
        }
        let mailbox = self.mailbox()?;
        let Some(folder) = self.selected.as_ref().map(Selected::id) else {
            return Ok(());
        };
        let removed = self.ctx.store.expunge(mailbox, folder, uids).await?;
        for (_, key) in &removed {
            // The row is gone; the sealed body is unreadable without it.
            if let Err(e) = self.ctx.blobs.delete(key).await {
                tracing::warn!(error = %e, "an expunged message's blob stayed behind");
            }
        }
        let gone: Vec<u32> = removed.iter().map(|(u, _)| *u).collect();
        let qresync = self.qresync;
        let mut out = Vec::new();
        if let Some(view) = self.selected.as_mut() {
            if tell {
                view.remove(&gone, qresync, &mut out);
            } else {
                view.messages
                    .retain(|m| gone.binary_search(&m.uid).is_err());
            }
        }
        self.wire.write(&out).await?;
        Ok(())
    }

    /// The rows and texts of messages, in one range read.
    async fn rows(&self, uids: &[u32]) -> Result<Vec<StoredMessage>, Failure> {
        let (Some(first), Some(last)) = (uids.first(), uids.last()) else {
            return Ok(Vec::new());
        };
        let mailbox = self.mailbox()?;
        let Some(folder) = self.selected.as_ref().map(Selected::id) else {
            return Ok(Vec::new());
        };
        let mut rows = self
            .ctx
            .store
            .messages_in_uid_range(mailbox, folder, *first, *last)
            .await?;
        rows.retain(|r| uids.binary_search(&r.uid).is_ok());
        Ok(rows)
    }

    async fn text_of(
        &self,
        secret: &MailboxSecret,
        row: &StoredMessage,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, Failure> {
        match athen_mail::read::raw_message(self.ctx.blobs.as_ref(), secret, row).await {
            Ok(raw) => Ok(Some(raw)),
            Err(athen_mail::MailError::Store(athen_core::StoreError::NotFound(_))) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Records that the person read a letter (trail, read receipt by
    /// policy, `\Seen`), as the web app does.
    async fn read_letter(
        &mut self,
        secret: &MailboxSecret,
        row: &StoredMessage,
        raw: &[u8],
    ) -> Result<(), Failure> {
        let Some(u) = self.user.as_ref() else {
            return Err(Failure::SessionEnded);
        };
        let mailbox = u.account.mailbox_id;
        let settings = self.ctx.store.settings(mailbox).await?;
        let reader = athen_mail::mdn::Reader {
            mailbox,
            secret,
            address: &u.account.address,
            login: &u.login,
            policy: settings.receipt_policy,
            hostname: &self.ctx.config.hostname,
        };
        self.ctx
            .live
            .letter_read(
                self.ctx.queue.as_deref(),
                &reader,
                row,
                raw,
                self.ctx.clock.now(),
            )
            .await?;
        Ok(())
    }

    async fn fetch(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mut items: FetchItems,
        changed_since: Option<(u64, bool)>,
    ) -> Done {
        let secret = self.checked_secret().await?;
        // UID commands may hear of removals; FETCH may not (RFC 9051 §7.5.1).
        self.catch_up(uid).await?;
        if uid && !items.items.contains(&FetchItem::Uid) {
            items.items.insert(0, FetchItem::Uid);
        }
        if (self.condstore || changed_since.is_some()) && !items.items.contains(&FetchItem::Modseq)
        {
            items.items.push(FetchItem::Modseq);
        }
        let reading =
            fetch::reads(&items.items) && self.selected.as_ref().is_some_and(|s| !s.read_only);
        if reading && !items.items.contains(&FetchItem::Flags) {
            items.items.push(FetchItem::Flags);
        }
        let mut targets = self.targets(uid, set)?;
        if let Some((since, vanished)) = changed_since {
            if vanished {
                let mailbox = self.mailbox()?;
                let folder = self.selected_id()?;
                let largest = self.selected.as_ref().map_or(0, Selected::largest_uid);
                let mut gone = self
                    .ctx
                    .store
                    .expunged_since(mailbox, folder, since)
                    .await?;
                gone.retain(|u| set.contains(*u, largest));
                if !gone.is_empty() {
                    self.out(format!(
                        "* VANISHED (EARLIER) {}\r\n",
                        SequenceSet::compact(&gone)
                    ))
                    .await?;
                }
            }
            let view = self.selected.as_ref().ok_or(Failure::SessionEnded)?;
            targets.retain(|u| view.entry(*u).is_some_and(|e| e.modseq > since));
        }
        let needs_row = fetch::needs_body(&items.items)
            || items
                .items
                .iter()
                .any(|i| matches!(i, FetchItem::InternalDate | FetchItem::Rfc822Size))
            || reading;
        let rows = if needs_row {
            self.rows(&targets).await?
        } else {
            Vec::new()
        };
        let needs_text = fetch::needs_body(&items.items) || reading;
        let mut missing = false;
        for uid_n in targets {
            let row = rows.iter().find(|r| r.uid == uid_n);
            if needs_row && row.is_none() {
                missing = true;
                continue;
            }
            let raw = match (needs_text, row) {
                (true, Some(r)) => match self.text_of(&secret, r).await? {
                    Some(raw) => Some(raw),
                    None => {
                        missing = true;
                        continue;
                    }
                },
                _ => None,
            };
            let Some(mut entry) = self.selected.as_ref().and_then(|v| v.entry(uid_n)).copied()
            else {
                continue;
            };
            if reading
                && let (Some(row), Some(raw)) = (row, raw.as_ref())
                && entry.flags & flags::SEEN == 0
            {
                self.read_letter(&secret, row, raw).await?;
                if let Some(now) = self
                    .ctx
                    .store
                    .folder_changes(self.mailbox()?, row.folder_id, entry.modseq)
                    .await?
                    .into_iter()
                    .find(|e| e.uid == uid_n)
                {
                    entry = now;
                    if let Some(v) = self.selected.as_mut() {
                        v.update(&entry);
                    }
                }
            }
            let seq = self
                .selected
                .as_ref()
                .and_then(|v| v.seq_of(uid_n))
                .unwrap_or(0);
            let mut out = format!("* {seq} FETCH (").into_bytes();
            fetch::write_items(
                &mut out,
                &items.items,
                &entry,
                row,
                raw.as_deref().map(|r| r.as_slice()),
                self.utf8,
            );
            out.extend_from_slice(b")\r\n");
            self.wire.write(&out).await?;
        }
        if missing {
            return Err(Failure::No(
                "[EXPUNGEISSUED] Some of those messages were removed meanwhile".into(),
            ));
        }
        Ok(format!("{}FETCH completed", if uid { "UID " } else { "" }))
    }

    fn flag_bits(list: &[Flag]) -> u32 {
        list.iter()
            .map(|f| match f {
                Flag::Seen => flags::SEEN,
                Flag::Answered => flags::ANSWERED,
                Flag::Flagged => flags::FLAGGED,
                Flag::Deleted => flags::DELETED,
                Flag::Draft => flags::DRAFT,
                Flag::Recent => 0,
                // RFC 3501 §7.1 PERMANENTFLAGS: others are not kept.
                Flag::Other(k) => response::keyword_bit(k).unwrap_or(0),
            })
            .fold(0, |a, b| a | b)
    }

    async fn store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        unchanged_since: Option<u64>,
        action: StoreAction,
        silent: bool,
        list: &[Flag],
    ) -> Done {
        let secret = self.checked_secret().await?;
        if self.selected.as_ref().is_some_and(|s| s.read_only) {
            return Err(Failure::No(
                "[READ-ONLY] The folder was opened with EXAMINE".into(),
            ));
        }
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        self.catch_up(uid).await?;
        let bits = Self::flag_bits(list);
        let change = match action {
            StoreAction::Add => FlagChange::Add(bits),
            StoreAction::Remove => FlagChange::Remove(bits),
            StoreAction::Replace => FlagChange::Replace(bits),
        };
        let targets = self.targets(uid, set)?;
        let mailbox = self.mailbox()?;
        let folder = self.selected_id()?;
        let newly_seen: Vec<u32> = targets
            .iter()
            .copied()
            .filter(|u| {
                self.selected
                    .as_ref()
                    .and_then(|v| v.entry(*u))
                    .is_some_and(|e| {
                        e.flags & flags::SEEN == 0 && change.apply(e.flags) & flags::SEEN != 0
                    })
            })
            .collect();
        let stored = self
            .ctx
            .store
            .store_flags(mailbox, folder, &targets, change, unchanged_since)
            .await?;
        // Marking a letter read in a mail program is reading it.
        if !newly_seen.is_empty() {
            let rows = self.rows(&newly_seen).await?;
            for row in &rows {
                if stored.modified.contains(&row.uid) {
                    continue;
                }
                if let Some(raw) = self.text_of(&secret, row).await? {
                    self.read_letter(&secret, row, &raw).await?;
                }
            }
        }
        let now: Vec<IndexEntry> = if newly_seen.is_empty() {
            stored.changed.clone()
        } else {
            // Reading added $MDNSent after the change: what the targets
            // are now (only what changed since the client last heard).
            let since = self.selected.as_ref().map_or(0, |v| v.told_modseq);
            let mut all = self
                .ctx
                .store
                .folder_changes(mailbox, folder, since)
                .await?;
            all.retain(|e| targets.binary_search(&e.uid).is_ok());
            all
        };
        let condstore = self.condstore;
        let mut out = Vec::new();
        if let Some(view) = self.selected.as_mut() {
            for e in &now {
                view.update(e);
            }
            if !silent || condstore {
                for u in &targets {
                    if stored.modified.contains(u) {
                        continue;
                    }
                    let changed = now.iter().find(|e| e.uid == *u);
                    if silent && changed.is_none() {
                        continue;
                    }
                    if let Some(e) = changed.or_else(|| view.entry(*u)) {
                        let e = *e;
                        view.write_flags(&mut out, &e, condstore);
                    }
                }
            }
        }
        self.wire.write(&out).await?;
        if !stored.modified.is_empty() {
            let mut modified = stored.modified.clone();
            if !uid {
                let view = self.selected.as_ref().ok_or(Failure::SessionEnded)?;
                modified = modified
                    .iter()
                    .filter_map(|u| view.seq_of(*u).map(|s| s as u32))
                    .collect();
            }
            modified.sort_unstable();
            return Ok(format!(
                "[MODIFIED {}] Some messages changed meanwhile",
                SequenceSet::compact(&modified)
            ));
        }
        Ok(format!("{}STORE completed", if uid { "UID " } else { "" }))
    }

    async fn search(&mut self, tag: &str, uid: bool, search: SearchCommand) -> Done {
        let secret = self.checked_secret().await?;
        if let Some(c) = &search.charset
            && c != "UTF-8"
            && c != "US-ASCII"
        {
            return Err(Failure::No(
                "[BADCHARSET (US-ASCII UTF-8)] Use UTF-8 or US-ASCII".into(),
            ));
        }
        self.catch_up(uid).await?;
        let depth = fetch::depth(&search.key);
        let view_uids = self
            .selected
            .as_ref()
            .map(Selected::uids)
            .unwrap_or_default();
        let rows = if depth >= Depth::Row {
            self.rows(&view_uids).await?
        } else {
            Vec::new()
        };
        let largest_seq = view_uids.len() as u32;
        let largest_uid = view_uids.last().copied().unwrap_or(0);
        let mut found: Vec<(u32, u32, u64)> = Vec::new();
        let entries: Vec<IndexEntry> = self
            .selected
            .as_ref()
            .map(|v| v.messages.clone())
            .unwrap_or_default();
        for (i, entry) in entries.iter().enumerate() {
            let row = rows.iter().find(|r| r.uid == entry.uid);
            let raw = match (depth, row) {
                (Depth::Text, Some(r)) => self.text_of(&secret, r).await?,
                _ => None,
            };
            let c = Candidate {
                seq: i as u32 + 1,
                largest_seq,
                largest_uid,
                entry,
                row,
                raw: raw.as_deref().map(|r| r.as_slice()),
            };
            if fetch::matches(&search.key, &c) {
                found.push((i as u32 + 1, entry.uid, entry.modseq));
            }
        }
        let numbers: Vec<u32> = found
            .iter()
            .map(|(s, u, _)| if uid { *u } else { *s })
            .collect();
        let highest = found.iter().map(|f| f.2).max();
        let with_modseq = fetch::uses_modseq(&search.key);
        let ret = search.ret.or_else(|| self.rev2.then(Vec::new));
        let line = match ret {
            None => {
                let mut l = String::from("* SEARCH");
                for n in &numbers {
                    l.push_str(&format!(" {n}"));
                }
                if with_modseq && let Some(h) = highest {
                    l.push_str(&format!(" (MODSEQ {h})"));
                }
                l
            }
            Some(opts) => {
                // RFC 4731 §3.1: no options means ALL.
                let opts = if opts.is_empty() {
                    vec![SearchReturn::All]
                } else {
                    opts
                };
                let mut l = format!("* ESEARCH (TAG \"{tag}\")");
                if uid {
                    l.push_str(" UID");
                }
                for o in opts {
                    match o {
                        SearchReturn::Min if !numbers.is_empty() => {
                            l.push_str(&format!(" MIN {}", numbers.iter().min().unwrap_or(&0)))
                        }
                        SearchReturn::Max if !numbers.is_empty() => {
                            l.push_str(&format!(" MAX {}", numbers.iter().max().unwrap_or(&0)))
                        }
                        SearchReturn::All if !numbers.is_empty() => {
                            let mut sorted = numbers.clone();
                            sorted.sort_unstable();
                            l.push_str(&format!(" ALL {}", SequenceSet::compact(&sorted)));
                        }
                        SearchReturn::Count => l.push_str(&format!(" COUNT {}", numbers.len())),
                        _ => {}
                    }
                }
                if with_modseq && let Some(h) = highest {
                    l.push_str(&format!(" MODSEQ {h}"));
                }
                l
            }
        };
        self.out(format!("{line}\r\n")).await?;
        Ok(format!("{}SEARCH completed", if uid { "UID " } else { "" }))
    }

    async fn copy(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        name: &MailboxName,
        moving: bool,
    ) -> Done {
        let secret = self.checked_secret().await?;
        if moving && self.selected.as_ref().is_some_and(|s| s.read_only) {
            return Err(Failure::No(
                "[READ-ONLY] The folder was opened with EXAMINE".into(),
            ));
        }
        let target = self.target_folder(name).await?;
        self.catch_up(uid).await?;
        let targets = self.targets(uid, set)?;
        let mailbox = self.mailbox()?;
        let folder = self.selected_id()?;
        let verb = if moving { "MOVE" } else { "COPY" };
        if targets.is_empty() {
            return Ok(format!(
                "{verb} completed (nothing to {})",
                verb.to_lowercase()
            ));
        }
        let pairs: Vec<(u32, u32)> = if moving {
            self.ctx
                .store
                .move_messages(mailbox, folder, &targets, target.id)
                .await?
        } else {
            let rows = self.rows(&targets).await?;
            let used = self.ctx.store.mailbox_usage(mailbox).await?;
            let adding: u64 = rows.iter().map(|r| r.size).sum();
            if self.over_quota(used + adding) {
                return Err(Failure::No(
                    "[OVERQUOTA] The mailbox is full; remove letters first".into(),
                ));
            }
            let mut pairs = Vec::new();
            for row in &rows {
                let Some(raw) = self.text_of(&secret, row).await? else {
                    continue;
                };
                let copy = athen_mail::submit::store_in(
                    self.ctx.blobs.as_ref(),
                    self.ctx.store.as_ref(),
                    &secret,
                    (&target, row.flags),
                    &raw,
                    row.received_at,
                )
                .await?;
                pairs.push((row.uid, copy.uid));
            }
            pairs
        };
        let from: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        let to: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        let code = format!(
            "[COPYUID {} {} {}]",
            target.uid_validity,
            SequenceSet::compact(&from),
            SequenceSet::compact(&to)
        );
        if moving {
            // RFC 6851 §4.3: COPYUID untagged, then the removals.
            self.out(format!("* OK {code} Moved\r\n")).await?;
            let qresync = self.qresync;
            let mut out = Vec::new();
            if let Some(view) = self.selected.as_mut() {
                view.remove(&from, qresync, &mut out);
            }
            self.wire.write(&out).await?;
            return Ok("MOVE completed".into());
        }
        if pairs.is_empty() {
            return Ok("COPY completed".into());
        }
        Ok(format!("{code} COPY completed"))
    }

    /// The selected folder's id.
    fn selected_id(&self) -> Result<athen_core::FolderId, Failure> {
        self.selected
            .as_ref()
            .map(Selected::id)
            .ok_or(Failure::SessionEnded)
    }

    /// The folder COPY, MOVE or APPEND files into: one that is not there
    /// is `[TRYCREATE]` (RFC 9051 §6.3.12), though creating it is refused.
    async fn target_folder(&mut self, name: &MailboxName) -> Result<Folder, Failure> {
        self.folder(name).await.map_err(|e| match e {
            Failure::No(m) => Failure::No(m.replace("[NONEXISTENT]", "[TRYCREATE]")),
            e => e,
        })
    }

    fn over_quota(&self, bytes: u64) -> bool {
        self.ctx.config.quota_bytes > 0 && bytes > self.ctx.config.quota_bytes
    }

    async fn append(
        &mut self,
        name: &MailboxName,
        list: &[Flag],
        date: Option<i64>,
        message: Vec<u8>,
    ) -> Done {
        let message = Zeroizing::new(message);
        let secret = self.checked_secret().await?;
        let target = self.target_folder(name).await?;
        if message.is_empty() {
            return Err(Failure::No(
                "The message is empty; nothing was filed".into(),
            ));
        }
        let mailbox = self.mailbox()?;
        let used = self.ctx.store.mailbox_usage(mailbox).await?;
        if self.over_quota(used + message.len() as u64) {
            return Err(Failure::No(
                "[OVERQUOTA] The mailbox is full; remove letters first".into(),
            ));
        }
        // A mail program that sent through this server files its own copy
        // in Sent; the server filed one already (issue 8: no duplicate).
        if target.name == SpecialFolder::Sent.name()
            && let Some(id) = athen_mail::meta::extract(&message).message_id
        {
            let recent = athen_mail::read::page(
                self.ctx.store.as_ref(),
                mailbox,
                &target,
                &secret,
                None,
                SENT_LOOKBACK,
            )
            .await?;
            if let Some(m) = recent
                .iter()
                .find(|m| m.meta.message_id.as_deref() == Some(id.as_str()))
            {
                return Ok(format!(
                    "[APPENDUID {} {}] Already in Sent: the server filed it when it was sent",
                    target.uid_validity, m.message.uid
                ));
            }
        }
        let when = date.unwrap_or_else(|| self.ctx.clock.now());
        let stored = athen_mail::submit::store_in(
            self.ctx.blobs.as_ref(),
            self.ctx.store.as_ref(),
            &secret,
            (&target, Self::flag_bits(list)),
            &message,
            when,
        )
        .await?;
        self.catch_up(true).await?;
        Ok(format!(
            "[APPENDUID {} {}] APPEND completed",
            target.uid_validity, stored.uid
        ))
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
