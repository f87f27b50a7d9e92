//! Unlock sessions: which mailboxes are open, for whom, until when.
//!
//! An unlocked mailbox secret lives only here, shared by every session of
//! that mailbox. When the last session ends (log-out, idle or absolute
//! timeout), the secret is dropped and zeroized. Tokens are kept only as
//! SHA-256 hashes, so the session table itself holds nothing usable.

use crate::VaultError;
use crate::auth::Unlocked;
use crate::codes;
use crate::keys::MailboxSecret;
use athen_core::account::{CredentialKind, Doors};
use athen_core::clock::{Clock, UnixTime};
use athen_core::{AccountId, CredentialId, LoginId, MailboxId};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// How long sessions may last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ended after this long without use.
    pub idle_secs: i64,
    /// Ended this long after log-in, however busy.
    pub absolute_secs: i64,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            idle_secs: 30 * 60,
            absolute_secs: 12 * 3600,
        }
    }
}

/// What a session knows about who is logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub account_id: AccountId,
    pub mailbox_id: MailboxId,
    pub login_id: LoginId,
    pub login_name: String,
    /// The credential that opened it: revoking it ends the session.
    pub credential: CredentialId,
    pub kind: CredentialKind,
    /// What the session may do: every door for a password, the token's
    /// doors for an app token (never the web app).
    pub doors: Doors,
    /// Where it was opened: the door and the address it came from.
    pub via: Via,
    pub source: Option<IpAddr>,
    pub created_at: UnixTime,
    pub last_seen: UnixTime,
}

/// The door a session was opened through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The web app in a browser.
    Web,
    /// The JSON API (the downloader, scripts).
    Api,
    /// A mail program over IMAP.
    Imap,
}

impl Via {
    /// In words, for the list of open sessions.
    pub fn words(self) -> &'static str {
        match self {
            Via::Web => "the web app",
            Via::Api => "the API (downloader or program)",
            Via::Imap => "a mail program (IMAP)",
        }
    }
}

/// An open session as its login sees it in Settings: never its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    /// A public name for the session (the start of its token's hash), to
    /// end it by.
    pub id: String,
    pub session: Session,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<[u8; 32], Session>,
    unlocked: HashMap<MailboxId, Arc<MailboxSecret>>,
}

/// All sessions of this server process.
pub struct Sessions {
    clock: Arc<dyn Clock>,
    limits: SessionLimits,
    inner: Mutex<Inner>,
}

/// 64 bits of the token's hash, in hex: enough to tell a login's
/// sessions apart, and nothing that opens one.
fn public_id(hash: &[u8; 32]) -> String {
    hash[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    pub fn new(clock: Arc<dyn Clock>, limits: SessionLimits) -> Self {
        Self {
            clock,
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere must not lock everyone out; the data stays consistent
        // because every update below is a single insert or remove.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session for an unlocked mailbox, opened through `via`
    /// from `source`; returns the session token.
    pub fn open(
        &self,
        unlocked: Unlocked,
        via: Via,
        source: Option<IpAddr>,
    ) -> Result<Zeroizing<String>, VaultError> {
        let token = codes::new_bootstrap_token()?;
        let now = self.clock.now();
        let session = Session {
            account_id: unlocked.account.id,
            mailbox_id: unlocked.account.mailbox_id,
            login_id: unlocked.login.id,
            login_name: unlocked.login.name.clone(),
            credential: unlocked.credential,
            kind: unlocked.kind,
            doors: unlocked.doors,
            via,
            source,
            created_at: now,
            last_seen: now,
        };
        let mut inner = self.lock();
        inner
            .unlocked
            .entry(session.mailbox_id)
            .or_insert_with(|| Arc::new(unlocked.secret));
        inner.sessions.insert(token_hash(&token), session);
        Ok(token)
    }

    fn expired(&self, s: &Session, now: UnixTime) -> bool {
        now - s.last_seen >= self.limits.idle_secs
            || now - s.created_at >= self.limits.absolute_secs
    }

    /// Whether the session of a token is still live, without marking it
    /// used (a mail program waiting in IMAP IDLE is not using it).
    pub fn alive(&self, token: &str) -> bool {
        let now = self.clock.now();
        let inner = self.lock();
        inner
            .sessions
            .get(&token_hash(token))
            .is_some_and(|s| !self.expired(s, now))
    }

    /// The session for a token, if it is live; marks it used.
    pub fn get(&self, token: &str) -> Option<(Session, Arc<MailboxSecret>)> {
        let now = self.clock.now();
        let key = token_hash(token);
        let mut inner = self.lock();
        let s = inner.sessions.get(&key)?.clone();
        if self.expired(&s, now) {
            Self::remove(&mut inner, &key);
            return None;
        }
        let secret = inner.unlocked.get(&s.mailbox_id)?.clone();
        if let Some(live) = inner.sessions.get_mut(&key) {
            live.last_seen = now;
        }
        Some((s, secret))
    }

    fn remove(inner: &mut Inner, key: &[u8; 32]) {
        if let Some(s) = inner.sessions.remove(key)
            && !inner
                .sessions
                .values()
                .any(|o| o.mailbox_id == s.mailbox_id)
        {
            // Last session of this mailbox: its keys go.
            inner.unlocked.remove(&s.mailbox_id);
            tracing::debug!(mailbox = %s.mailbox_id, "mailbox locked");
        }
    }

    /// Ends a session (log-out). True if there was one.
    pub fn close(&self, token: &str) -> bool {
        let key = token_hash(token);
        let mut inner = self.lock();
        let had = inner.sessions.contains_key(&key);
        Self::remove(&mut inner, &key);
        had
    }

    /// Ends every session of a mailbox (account suspended or closed).
    pub fn close_mailbox(&self, mailbox: MailboxId) -> usize {
        let mut inner = self.lock();
        let before = inner.sessions.len();
        inner.sessions.retain(|_, s| s.mailbox_id != mailbox);
        inner.unlocked.remove(&mailbox);
        before - inner.sessions.len()
    }

    /// Ends every session of one login (a staff login turned off); the
    /// mailbox locks if none of its other logins has one.
    /// Ends every session opened by `credential` (a revoked app token),
    /// locking mailboxes left with none; how many ended.
    pub fn close_credential(&self, credential: CredentialId) -> usize {
        let mut inner = self.lock();
        let keys: Vec<[u8; 32]> = inner
            .sessions
            .iter()
            .filter(|(_, s)| s.credential == credential)
            .map(|(k, _)| *k)
            .collect();
        for k in &keys {
            Self::remove(&mut inner, k);
        }
        keys.len()
    }

    pub fn close_login(&self, login: LoginId) -> usize {
        let mut inner = self.lock();
        let keys: Vec<[u8; 32]> = inner
            .sessions
            .iter()
            .filter(|(_, s)| s.login_id == login)
            .map(|(k, _)| *k)
            .collect();
        for k in &keys {
            Self::remove(&mut inner, k);
        }
        keys.len()
    }

    /// The public name of the session of `token` (see [`OpenSession`]).
    pub fn public_id(token: &str) -> String {
        public_id(&token_hash(token))
    }

    /// The live sessions of a login, oldest first.
    pub fn of_login(&self, login: LoginId) -> Vec<OpenSession> {
        let now = self.clock.now();
        let inner = self.lock();
        let mut list: Vec<OpenSession> = inner
            .sessions
            .iter()
            .filter(|(_, s)| s.login_id == login && !self.expired(s, now))
            .map(|(k, s)| OpenSession {
                id: public_id(k),
                session: s.clone(),
            })
            .collect();
        list.sort_by_key(|o| o.session.created_at);
        list
    }

    /// Ends the session of `login` named `id`; whether there was one.
    pub fn close_of_login(&self, login: LoginId, id: &str) -> bool {
        let mut inner = self.lock();
        let key = inner
            .sessions
            .iter()
            .find(|(k, s)| s.login_id == login && public_id(k) == id)
            .map(|(k, _)| *k);
        match key {
            Some(k) => {
                Self::remove(&mut inner, &k);
                true
            }
            None => false,
        }
    }

    /// Ends expired sessions; returns how many. Run periodically.
    pub fn sweep(&self) -> usize {
        let now = self.clock.now();
        let mut inner = self.lock();
        let dead: Vec<[u8; 32]> = inner
            .sessions
            .iter()
            .filter(|(_, s)| self.expired(s, now))
            .map(|(k, _)| *k)
            .collect();
        for k in &dead {
            Self::remove(&mut inner, k);
        }
        dead.len()
    }

    /// The secret of a mailbox if some session holds it open (used to
    /// unspool new mail at once).
    pub fn unlocked(&self, mailbox: MailboxId) -> Option<Arc<MailboxSecret>> {
        self.lock().unlocked.get(&mailbox).cloned()
    }

    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    pub fn unlocked_count(&self) -> usize {
        self.lock().unlocked.len()
    }
}
