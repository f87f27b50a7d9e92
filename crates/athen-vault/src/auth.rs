//! Checking credentials and unlocking mailboxes.
//!
//! Rules (issue 2, "Bad input"): a wrong password gets the same answer, and
//! the same work, as an unknown user; failures are rate-limited per login
//! name and per source address; the account's status is only revealed to
//! someone who gave a correct credential.

use crate::VaultError;
use crate::codes::{parse_app_token, recovery_code_bytes};
use crate::keys::MailboxSecret;
use crate::totp::TotpKey;
use crate::wrap::{self, KdfParams};
use athen_core::account::{Account, CredentialKind, CredentialRecord, Doors, Login};
use athen_core::clock::{Clock, UnixTime};
use athen_core::store::{AccountStore, CredentialStore, MailboxStore};
use athen_core::{CredentialId, StoreError};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// A mailbox opened by a credential.
#[derive(Debug)]
pub struct Unlocked {
    pub account: Account,
    pub login: Login,
    pub credential: CredentialId,
    /// What kind of credential it was: only a password sign-in asks for
    /// the second step.
    pub kind: CredentialKind,
    /// The doors it opens: every door for a password or recovery code,
    /// those chosen for an app token.
    pub doors: Doors,
    pub secret: MailboxSecret,
}

/// A sign-in whose password was right and whose one-time code is still
/// to come. The mailbox is unlocked in here, but nothing outside this
/// module can take it out without [`Authenticator::second_step`].
pub struct HalfSignedIn {
    unlocked: Unlocked,
    key: TotpKey,
}

impl std::fmt::Debug for HalfSignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HalfSignedIn({})", self.unlocked.login.name)
    }
}

impl HalfSignedIn {
    pub fn login_name(&self) -> &str {
        &self.unlocked.login.name
    }

    /// The mailbox the password opened.
    pub fn mailbox(&self) -> athen_core::MailboxId {
        self.unlocked.account.mailbox_id
    }
}

/// How far the first step of a sign-in got.
#[derive(Debug)]
pub enum FirstStep {
    /// Signed in.
    Done(Unlocked),
    /// The password was right; the login's one-time code is needed too.
    CodeNeeded(HalfSignedIn),
}

/// A second step that did not sign in: why, and (for a wrong code) the
/// half sign-in to try again with.
#[derive(Debug)]
pub struct SecondStepFailed {
    pub error: VaultError,
    pub again: Option<HalfSignedIn>,
}

/// Limits on failed attempts within a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failed passwords (or codes) of one login before each further try
    /// has to wait: 2 s after the last failure, then 4 s, 8 s … up to the
    /// window. Slower and slower, never a lock-out of every door: app
    /// tokens are not counted here.
    pub per_login: u32,
    /// Failed attempts from one address (an IPv6 /64) in the window;
    /// beyond this, that address waits for the window to pass.
    pub per_source: u32,
    pub window_secs: i64,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            per_login: 10,
            per_source: 50,
            window_secs: 15 * 60,
        }
    }
}

/// One attempt of a key: when, and whether it is still being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    at: UnixTime,
    /// Reserved and not yet settled.
    pending: bool,
    /// Which reservation made it (to settle exactly that one).
    id: u64,
}

#[derive(Debug, Default)]
struct Counts {
    keys: HashMap<String, Vec<Mark>>,
    next_id: u64,
}

/// Counts failed attempts per login name and per source address. Kept in
/// memory: a restart forgives, which is acceptable because Argon2 already
/// makes each guess expensive.
///
/// An attempt is counted *before* the work that checks it
/// ([`Throttle::reserve`]), under one lock, and settled after it
/// ([`Throttle::settle`]): a failure stays, anything else is given back.
/// Attempts being checked count against the limit, so a hundred requests
/// sent at once (HTTP/2 streams, many connections) cannot all pass the
/// check before the first failure is written: those beyond the limit
/// wait for the ones before them to settle, and are then let in or
/// refused. Right passwords sent at once (twelve mail programs starting
/// together) wait a moment and get in.
#[derive(Debug)]
pub struct Throttle {
    limits: ThrottleLimits,
    counts: Mutex<Counts>,
    settled: tokio::sync::Notify,
}

/// Beyond this many tracked keys, stale ones are pruned on every attempt,
/// so a spray of made-up names cannot grow memory without bound.
const THROTTLE_MAX_KEYS: usize = 100_000;

/// The longest an attempt waits for those before it to settle.
const MAX_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What an attempt is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// A password, recovery code or one-time code: the login (slowing
    /// down) and the address.
    Password,
    /// An app token: 160 random bits cannot be guessed, so only the
    /// address is counted (on a count of its own), and never the login,
    /// whose downloader must keep working while someone guesses its
    /// password.
    AppToken,
}

/// An attempt counted in advance: [`Throttle::settle`] keeps it as a
/// failure or gives it back.
#[derive(Debug)]
#[must_use = "an attempt reserved is settled as failed or succeeded"]
pub struct Reservation {
    keys: Vec<String>,
    id: u64,
}

/// The key an address is counted under: an IPv4 address, or the /64 an
/// IPv6 address is in (one customer's network, which can hold 2^64
/// addresses).
pub fn source_key(source: IpAddr) -> String {
    match source {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Whether an attempt may go ahead now.
enum Gate {
    Go,
    /// Earlier attempts are still being checked; wait for them.
    Queue,
    /// Refused for this long.
    Wait(u64),
}

impl Throttle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            limits,
            counts: Mutex::new(Counts::default()),
            settled: tokio::sync::Notify::new(),
        }
    }

    fn keys(name: &str, source: Option<IpAddr>, kind: Attempt) -> Vec<String> {
        let mut keys = Vec::with_capacity(2);
        match kind {
            Attempt::Password => {
                keys.push(format!("login:{name}"));
                if let Some(s) = source {
                    keys.push(format!("addr:{}", source_key(s)));
                }
            }
            Attempt::AppToken => {
                if let Some(s) = source {
                    keys.push(format!("token-addr:{}", source_key(s)));
                }
            }
        }
        keys
    }

    /// Whether an attempt under `key` may go ahead at `now`.
    fn gate(&self, key: &str, marks: &[Mark], now: UnixTime) -> Gate {
        let w = self.limits.window_secs;
        let recent = marks.iter().filter(|m| now - m.at < w);
        let failed: Vec<UnixTime> = recent
            .clone()
            .filter(|m| !m.pending)
            .map(|m| m.at)
            .collect();
        let pending = recent.filter(|m| m.pending).count() as u32;
        let failures = failed.len() as u32;
        if key.starts_with("login:") {
            let limit = self.limits.per_login;
            if failures < limit {
                return if failures + pending < limit {
                    Gate::Go
                } else {
                    Gate::Queue
                };
            }
            // Progressively slower: the k-th try past the limit waits
            // 2^k seconds after the last failure, at most the window
            // (whole seconds, so the first wait is at least one).
            let last = failed.iter().copied().max().unwrap_or(now);
            let delay = 1i64.checked_shl(failures - limit + 1).unwrap_or(w).min(w);
            let waited = now - last;
            if waited < delay {
                Gate::Wait((delay - waited).max(1) as u64)
            } else if pending > 0 {
                // One try at a time once slowed down.
                Gate::Queue
            } else {
                Gate::Go
            }
        } else {
            let limit = self.limits.per_source;
            if failures >= limit {
                let oldest = failed.iter().copied().min().unwrap_or(now);
                Gate::Wait((oldest + w - now).max(1) as u64)
            } else if failures + pending >= limit {
                Gate::Queue
            } else {
                Gate::Go
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One look under the lock: the reservation, or why not.
    fn try_reserve(&self, keys: &[String], now: UnixTime) -> Result<Reservation, Gate> {
        let mut counts = self.lock();
        let w = self.limits.window_secs;
        if counts.keys.len() > THROTTLE_MAX_KEYS {
            counts
                .keys
                .retain(|_, v| v.iter().any(|m| m.pending || now - m.at < w));
        }
        let mut queue = false;
        for key in keys {
            if let Some(marks) = counts.keys.get(key) {
                match self.gate(key, marks, now) {
                    Gate::Go => {}
                    Gate::Queue => queue = true,
                    Gate::Wait(secs) => return Err(Gate::Wait(secs)),
                }
            }
        }
        if queue {
            return Err(Gate::Queue);
        }
        counts.next_id += 1;
        let id = counts.next_id;
        for key in keys {
            let v = counts.keys.entry(key.clone()).or_default();
            v.retain(|m| m.pending || now - m.at < w);
            v.push(Mark {
                at: now,
                pending: true,
                id,
            });
        }
        Ok(Reservation {
            keys: keys.to_vec(),
            id,
        })
    }

    /// Counts an attempt before it is checked, or refuses it if its login
    /// or address must wait. Attempts beyond the limit while others are
    /// being checked wait (at most 30 s) for those to settle. `now` is
    /// read again after each wait.
    pub async fn reserve(
        &self,
        name: &str,
        source: Option<IpAddr>,
        kind: Attempt,
        clock: &dyn Clock,
    ) -> Result<Reservation, VaultError> {
        let keys = Self::keys(name, source, kind);
        let deadline = tokio::time::Instant::now() + MAX_QUEUE_WAIT;
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            // Registered before the look, so a settle in between wakes it.
            settled.as_mut().enable();
            match self.try_reserve(&keys, clock.now()) {
                Ok(r) => return Ok(r),
                Err(Gate::Wait(retry_after_secs)) => {
                    return Err(VaultError::Throttled { retry_after_secs });
                }
                Err(Gate::Queue | Gate::Go) => {
                    if tokio::time::timeout_at(deadline, settled).await.is_err() {
                        return Err(VaultError::Throttled {
                            retry_after_secs: 1,
                        });
                    }
                }
            }
        }
    }

    /// Settles a reserved attempt: a failure stays counted; a success (or
    /// an attempt that failed for another reason, such as the store) is
    /// given back. A password that signed in also clears its login's
    /// failures (not the address's: one good password must not reset a
    /// spray from the same address).
    pub fn settle(&self, r: Reservation, outcome: Outcome) {
        {
            let mut counts = self.lock();
            for key in &r.keys {
                let Some(v) = counts.keys.get_mut(key) else {
                    continue;
                };
                match outcome {
                    Outcome::Failed => {
                        for m in v.iter_mut().filter(|m| m.id == r.id) {
                            m.pending = false;
                        }
                    }
                    Outcome::SignedIn if key.starts_with("login:") => {
                        v.retain(|m| m.pending && m.id != r.id);
                    }
                    _ => v.retain(|m| m.id != r.id),
                }
            }
        }
        self.settled.notify_waiters();
    }

    /// Refuses if this name or address has too many recent failures
    /// (for forms that count only what failed, such as registration).
    pub fn check(
        &self,
        name: &str,
        source: Option<IpAddr>,
        now: UnixTime,
    ) -> Result<(), VaultError> {
        let counts = self.lock();
        for key in Self::keys(name, source, Attempt::Password) {
            if let Some(marks) = counts.keys.get(&key)
                && let Gate::Wait(retry_after_secs) = self.gate(&key, marks, now)
            {
                return Err(VaultError::Throttled { retry_after_secs });
            }
        }
        Ok(())
    }

    /// Counts a failure (for forms that count only what failed).
    pub fn failed(&self, name: &str, source: Option<IpAddr>, now: UnixTime) {
        let mut counts = self.lock();
        let w = self.limits.window_secs;
        counts.next_id += 1;
        let id = counts.next_id;
        for key in Self::keys(name, source, Attempt::Password) {
            let v = counts.keys.entry(key).or_default();
            v.retain(|m| m.pending || now - m.at < w);
            v.push(Mark {
                at: now,
                pending: false,
                id,
            });
        }
    }

    /// Clears a login's failures (for forms that count only failures).
    pub fn succeeded(&self, name: &str) {
        if let Some(v) = self.lock().keys.get_mut(&format!("login:{name}")) {
            v.retain(|m| m.pending);
        }
    }
}

/// How a reserved attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The credential was wrong: the attempt stays counted.
    Failed,
    /// Signed in with a password or code: the login's count is cleared.
    SignedIn,
    /// Right, but not a sign-in that clears the login's count (an app
    /// token, or a password whose code is still to come), or not decided
    /// (the store failed): the attempt is given back.
    NotCounted,
}

/// How a failed attempt is settled: a wrong credential stays counted;
/// anything else (an inactive account, a store failure, the wrong door)
/// is given back.
fn outcome_of(e: &VaultError) -> Outcome {
    match e {
        VaultError::BadCredential => Outcome::Failed,
        _ => Outcome::NotCounted,
    }
}

/// At most this many Argon2 derivations at once (each takes 19 MiB and a
/// core for about a tenth of a second): two hundred wrong passwords sent at
/// once wait their turn instead of taking 3.8 GB and every blocking
/// thread. Shared by every sign-in path of the process.
const KDF_SLOTS: usize = 4;

static KDF: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(KDF_SLOTS);

/// Runs `work` (an Argon2 derivation) off the async threads, once one of
/// the [`KDF_SLOTS`] is free.
pub async fn kdf_work<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, VaultError> {
    let _slot = KDF
        .acquire()
        .await
        .map_err(|e| VaultError::Parameter(format!("key derivation slots closed: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| VaultError::Parameter(format!("key derivation task failed: {e}")))
}

/// Checks credentials against the store and unwraps mailbox secrets.
pub struct Authenticator {
    pub accounts: Arc<dyn AccountStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub mailboxes: Arc<dyn MailboxStore>,
    pub clock: Arc<dyn Clock>,
    pub throttle: Throttle,
    /// Used for the dummy work done for unknown users, so that it costs
    /// the same as a real password check.
    pub params: KdfParams,
}

/// Argon2 is deliberately slow; run it off the async threads, in one of
/// the few slots for it.
async fn unwrap_blocking(
    record: &CredentialRecord,
    input: Zeroizing<Vec<u8>>,
    public_key: String,
) -> Result<MailboxSecret, VaultError> {
    let wrapped = record.wrapped.clone();
    kdf_work(move || wrap::unwrap(&wrapped, &input, &public_key)).await?
}

impl Authenticator {
    /// Unlocks where no one-time code can be asked for (mail programs, the
    /// API without one, the downloader): a password, or an app token that
    /// opens `door`. A password of a login with two-step sign-in is
    /// refused with [`VaultError::SecondStepNeeded`]; its app tokens work.
    pub async fn unlock(
        &self,
        login_name: &str,
        secret: &str,
        source: Option<IpAddr>,
        door: Doors,
    ) -> Result<Unlocked, VaultError> {
        let name = login_name.trim().to_ascii_lowercase();
        if let Some((id, token)) = parse_app_token(secret) {
            return self.unlock_with_token(&name, id, token, source, door).await;
        }
        match self.sign_in(&name, secret, source).await? {
            FirstStep::Done(u) => Ok(u),
            FirstStep::CodeNeeded(_) => Err(VaultError::SecondStepNeeded),
        }
    }

    /// The first step of a sign-in that can ask for a one-time code (the
    /// web app, the API with a password): the password checked, and for a
    /// login with two-step sign-in, the key to check the code with. Only a
    /// password: an app token here is refused before any work
    /// ([`VaultError::NotThisDoor`]), so a token copied from a downloader
    /// PC never opens the web app. The failure count of the login is
    /// cleared only once signed in, so a known password does not buy fresh
    /// guesses at the code.
    pub async fn sign_in(
        &self,
        login_name: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<FirstStep, VaultError> {
        if parse_app_token(password).is_some() {
            return Err(VaultError::NotThisDoor(
                "an app token is for mail programs and the downloader: sign in with your password",
            ));
        }
        let name = login_name.trim().to_ascii_lowercase();
        let now = self.clock.now();
        let reserved = self
            .throttle
            .reserve(&name, source, Attempt::Password, self.clock.as_ref())
            .await?;
        let result = self.try_password(&name, password).await;
        let u = match self.settle(&name, source, now, result).await {
            Ok(u) => u,
            Err(e) => {
                self.throttle.settle(reserved, outcome_of(&e));
                return Err(e);
            }
        };
        let two_step = match self.credentials.totp(u.login.id).await {
            Ok(t) => t,
            Err(e) => {
                self.throttle.settle(reserved, Outcome::NotCounted);
                return Err(e.into());
            }
        };
        if let Some(record) = two_step {
            self.throttle.settle(reserved, Outcome::NotCounted);
            if record.mailbox_id != u.account.mailbox_id {
                // Keys of a retired mailbox are removed with it; one left
                // behind must not turn two-step sign-in off unnoticed.
                return Err(VaultError::Corrupt(
                    "the two-step key belongs to another mailbox",
                ));
            }
            let key = TotpKey::open(&u.secret, u.login.id, &record.sealed_key)?;
            return Ok(FirstStep::CodeNeeded(HalfSignedIn { unlocked: u, key }));
        }
        self.throttle.settle(reserved, Outcome::SignedIn);
        Ok(FirstStep::Done(u))
    }

    /// The second step: the one-time code of the half sign-in's login,
    /// within one 30-second step of now and not used before (RFC 6238
    /// §5.2). Wrong codes count against the login and the address like
    /// wrong passwords.
    pub async fn second_step(
        &self,
        half: HalfSignedIn,
        code: &str,
        source: Option<IpAddr>,
    ) -> Result<Unlocked, SecondStepFailed> {
        let now = self.clock.now();
        let name = half.unlocked.login.name.clone();
        let reserved = match self
            .throttle
            .reserve(&name, source, Attempt::Password, self.clock.as_ref())
            .await
        {
            Ok(r) => r,
            Err(error) => return Err(SecondStepFailed { error, again: None }),
        };
        let fresh = match half.key.check(code, now) {
            None => false,
            Some(step) => match self
                .credentials
                .use_totp_step(half.unlocked.login.id, step)
                .await
            {
                Ok(fresh) => fresh,
                Err(e) => {
                    self.throttle.settle(reserved, Outcome::NotCounted);
                    return Err(SecondStepFailed {
                        error: e.into(),
                        again: Some(half),
                    });
                }
            },
        };
        if !fresh {
            self.throttle.settle(reserved, Outcome::Failed);
            tracing::info!(login = %name, source = ?source, "failed second step");
            return Err(SecondStepFailed {
                error: VaultError::BadCode,
                again: Some(half),
            });
        }
        self.throttle.settle(reserved, Outcome::SignedIn);
        Ok(half.unlocked)
    }

    /// Asks a signed-in person again before a change that could take the
    /// account (a new password, recovery code or staff login, two-step
    /// sign-in off): their password, and their one-time code when the
    /// login has two-step sign-in. Never an app token. Throttled like a
    /// sign-in.
    pub async fn reauthenticate(
        &self,
        login_name: &str,
        password: &str,
        code: Option<&str>,
        source: Option<IpAddr>,
    ) -> Result<Unlocked, VaultError> {
        match self.sign_in(login_name, password, source).await? {
            FirstStep::Done(u) => Ok(u),
            FirstStep::CodeNeeded(half) => match code.map(str::trim).filter(|c| !c.is_empty()) {
                None => Err(VaultError::SecondStepNeeded),
                Some(code) => self
                    .second_step(half, code, source)
                    .await
                    .map_err(|failed| failed.error),
            },
        }
    }

    /// Unlocks with the recovery code shown at registration.
    pub async fn unlock_with_recovery_code(
        &self,
        address: &str,
        code: &str,
        source: Option<IpAddr>,
    ) -> Result<Unlocked, VaultError> {
        let name = address.trim().to_ascii_lowercase();
        let now = self.clock.now();
        let reserved = self
            .throttle
            .reserve(&name, source, Attempt::Password, self.clock.as_ref())
            .await?;
        let result = self.try_recovery(&name, code).await;
        let settled = self.settle(&name, source, now, result).await;
        // The recovery code is the way in when the phone with the
        // authenticator app is lost: no second step after it.
        self.throttle.settle(
            reserved,
            match &settled {
                Ok(_) => Outcome::SignedIn,
                Err(e) => outcome_of(e),
            },
        );
        settled
    }

    /// An app token (`athen_<id>_<secret>`): checked without Argon2 and
    /// without the login's password count, counted only against the
    /// address's own count of bad tokens. It opens only its doors.
    async fn unlock_with_token(
        &self,
        name: &str,
        id: CredentialId,
        token: Zeroizing<Vec<u8>>,
        source: Option<IpAddr>,
        door: Doors,
    ) -> Result<Unlocked, VaultError> {
        let now = self.clock.now();
        let reserved = self
            .throttle
            .reserve(name, source, Attempt::AppToken, self.clock.as_ref())
            .await?;
        let result = self.try_token(name, id, token).await;
        let settled = self.settle(name, source, now, result).await;
        // A right token does not clear the password count: the
        // downloader's cycles must not reset someone's guessing.
        self.throttle.settle(
            reserved,
            match &settled {
                Ok(_) => Outcome::NotCounted,
                Err(e) => outcome_of(e),
            },
        );
        let u = settled?;
        if !u.doors.contains(door) {
            return Err(VaultError::NotThisDoor(
                "this app token was not made for this: make one in Settings that is",
            ));
        }
        Ok(u)
    }

    async fn settle(
        &self,
        name: &str,
        source: Option<IpAddr>,
        now: UnixTime,
        result: Result<Unlocked, VaultError>,
    ) -> Result<Unlocked, VaultError> {
        match result {
            Ok(u) => {
                // Only now, with a correct credential, may the status be told.
                if !u.account.status.may_log_in() {
                    return Err(VaultError::AccountNotActive(u.account.status.to_string()));
                }
                self.credentials.touch_credential(u.credential, now).await?;
                Ok(u)
            }
            Err(VaultError::BadCredential) => {
                tracing::info!(login = %name, source = ?source, "failed unlock");
                Err(VaultError::BadCredential)
            }
            Err(other) => Err(other),
        }
    }

    /// The same Argon2 run a real password costs, for a login that does
    /// not exist, in a slot like any other.
    async fn dummy_work(&self) {
        let params = self.params;
        let _ = kdf_work(move || params.derive(b"not a real password", &[0u8; 16])).await;
    }

    async fn context(&self, login: &Login) -> Result<(Account, String), VaultError> {
        let account = self
            .accounts
            .account(login.account_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("login {} has no account", login.id)))?;
        let mailbox = self
            .mailboxes
            .mailbox(account.mailbox_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("account {} has no mailbox", account.id)))?;
        Ok((account, mailbox.public_key))
    }

    async fn try_token(
        &self,
        name: &str,
        cred_id: CredentialId,
        token_secret: Zeroizing<Vec<u8>>,
    ) -> Result<Unlocked, VaultError> {
        // App tokens are random, so checking one is fast whether or not
        // the login exists; there is nothing to equalise.
        let login = self.credentials.login_by_name(name).await?;
        let Some(login) = login.filter(|l| l.disabled_at.is_none()) else {
            return Err(VaultError::BadCredential);
        };
        let Some(record) = self.credentials.credential(cred_id).await? else {
            return Err(VaultError::BadCredential);
        };
        if record.login_id != login.id
            || record.kind != CredentialKind::AppToken
            || record.revoked_at.is_some()
        {
            return Err(VaultError::BadCredential);
        }
        let (account, public_key) = self.context(&login).await?;
        if record.mailbox_id != account.mailbox_id {
            return Err(VaultError::BadCredential);
        }
        let secret = wrap::unwrap(&record.wrapped, &token_secret, &public_key)?;
        Ok(Unlocked {
            account,
            login,
            credential: record.id,
            kind: CredentialKind::AppToken,
            doors: record.doors,
            secret,
        })
    }

    async fn try_password(&self, name: &str, password: &str) -> Result<Unlocked, VaultError> {
        let login = self.credentials.login_by_name(name).await?;
        let password = Zeroizing::new(password.as_bytes().to_vec());
        let Some(login) = login.filter(|l| l.disabled_at.is_none()) else {
            self.dummy_work().await;
            return Err(VaultError::BadCredential);
        };
        let records = self.credentials.live_credentials(login.id).await?;
        let Some(record) = records
            .into_iter()
            .find(|c| c.kind == CredentialKind::Password)
        else {
            self.dummy_work().await;
            return Err(VaultError::BadCredential);
        };
        let (account, public_key) = self.context(&login).await?;
        let secret = unwrap_blocking(&record, password, public_key).await?;
        Ok(Unlocked {
            account,
            login,
            credential: record.id,
            kind: CredentialKind::Password,
            doors: Doors::PASSWORD,
            secret,
        })
    }

    async fn try_recovery(&self, name: &str, code: &str) -> Result<Unlocked, VaultError> {
        let Some(login) = self
            .credentials
            .login_by_name(name)
            .await?
            .filter(|l| l.staff_entry_id.is_none())
        else {
            return Err(VaultError::BadCredential);
        };
        let (account, public_key) = self.context(&login).await?;
        let input = recovery_code_bytes(code);
        for record in self.credentials.live_credentials(login.id).await? {
            if record.kind != CredentialKind::RecoveryCode {
                continue;
            }
            match wrap::unwrap(&record.wrapped, &input, &public_key) {
                Ok(secret) => {
                    return Ok(Unlocked {
                        account,
                        login,
                        credential: record.id,
                        kind: CredentialKind::RecoveryCode,
                        doors: Doors::PASSWORD,
                        secret,
                    });
                }
                Err(VaultError::BadCredential) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(VaultError::BadCredential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use athen_core::clock::ManualClock;

    fn limits(per_login: u32, per_source: u32) -> ThrottleLimits {
        ThrottleLimits {
            per_login,
            per_source,
            window_secs: 60,
        }
    }

    async fn failed(t: &Throttle, name: &str, ip: Option<IpAddr>, clock: &ManualClock) {
        let r = t.reserve(name, ip, Attempt::Password, clock).await.unwrap();
        t.settle(r, Outcome::Failed);
    }

    fn refused(r: Result<Reservation, VaultError>) -> Option<u64> {
        match r {
            Err(VaultError::Throttled { retry_after_secs }) => Some(retry_after_secs),
            _ => None,
        }
    }

    #[tokio::test]
    async fn attempts_are_counted_before_they_are_checked() {
        let t = Throttle::new(limits(3, 100));
        let clock = ManualClock::new(0);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(
                t.reserve("a", Some(ip), Attempt::Password, &clock)
                    .await
                    .unwrap(),
            );
        }
        // Three are being checked: the fourth waits for them…
        let fourth = t.reserve("a", Some(ip), Attempt::Password, &clock);
        tokio::pin!(fourth);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), fourth.as_mut())
                .await
                .is_err()
        );
        for r in held {
            t.settle(r, Outcome::Failed);
        }
        // …and once they failed, it must wait 2 s after the last.
        assert_eq!(refused(fourth.await), Some(2));
        // Then slower and slower: 2 s, 4 s, 8 s after the last failure.
        clock.advance(2);
        failed(&t, "a", Some(ip), &clock).await;
        clock.advance(3);
        assert_eq!(
            refused(t.reserve("a", Some(ip), Attempt::Password, &clock).await),
            Some(1)
        );
        clock.advance(1);
        failed(&t, "a", Some(ip), &clock).await;
        assert_eq!(
            refused(t.reserve("a", Some(ip), Attempt::Password, &clock).await),
            Some(8)
        );
        // A success gives its attempt back and clears the login.
        clock.advance(8);
        let r = t
            .reserve("a", Some(ip), Attempt::Password, &clock)
            .await
            .unwrap();
        t.settle(r, Outcome::SignedIn);
        for _ in 0..3 {
            let r = t
                .reserve("a", Some(ip), Attempt::Password, &clock)
                .await
                .unwrap();
            t.settle(r, Outcome::NotCounted);
        }
        // Right passwords at once beyond the limit wait their turn and get in.
        let held: Vec<_> = [0; 3].iter().map(|_| ()).collect();
        let mut rs = Vec::new();
        for _ in held {
            rs.push(
                t.reserve("a", Some(ip), Attempt::Password, &clock)
                    .await
                    .unwrap(),
            );
        }
        let late = t.reserve("a", Some(ip), Attempt::Password, &clock);
        let settle = async {
            tokio::task::yield_now().await;
            for r in rs {
                t.settle(r, Outcome::SignedIn);
            }
        };
        let (late, ()) = tokio::join!(late, settle);
        assert!(late.is_ok());
    }

    #[tokio::test]
    async fn tokens_are_not_held_back_by_passwords_nor_clear_them() {
        let t = Throttle::new(limits(2, 100));
        let clock = ManualClock::new(0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..2 {
            failed(&t, "a", Some(ip), &clock).await;
        }
        assert!(refused(t.reserve("a", Some(ip), Attempt::Password, &clock).await).is_some());
        // The downloader's token still gets in, and does not reset the count.
        let r = t
            .reserve("a", Some(ip), Attempt::AppToken, &clock)
            .await
            .unwrap();
        t.settle(r, Outcome::NotCounted);
        assert!(refused(t.reserve("a", Some(ip), Attempt::Password, &clock).await).is_some());
    }

    #[tokio::test]
    async fn an_address_is_counted_and_ipv6_by_its_slash_64() {
        let t = Throttle::new(limits(100, 3));
        let clock = ManualClock::new(0);
        for (i, a) in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"]
            .iter()
            .enumerate()
        {
            failed(&t, &format!("n{i}"), Some(a.parse().unwrap()), &clock).await;
        }
        clock.advance(1);
        let same_net: IpAddr = "2001:db8:1:2:abcd::1".parse().unwrap();
        assert_eq!(
            refused(
                t.reserve("other", Some(same_net), Attempt::Password, &clock)
                    .await
            ),
            Some(59)
        );
        let next_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(
            t.reserve("other", Some(next_net), Attempt::Password, &clock)
                .await
                .is_ok()
        );
        assert_eq!(source_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
        // check and failed, for forms that count only failures.
        t.failed("form", None, 0);
        assert!(t.check("form", None, 0).is_ok());
    }
}
