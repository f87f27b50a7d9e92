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
use athen_core::account::{Account, CredentialKind, CredentialRecord, Login};
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
    pub per_login: u32,
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

/// Counts failed attempts per login name and per source address. Kept in
/// memory: a restart forgives, which is acceptable because Argon2 already
/// makes each guess expensive.
#[derive(Debug)]
pub struct Throttle {
    limits: ThrottleLimits,
    failures: Mutex<HashMap<String, Vec<UnixTime>>>,
}

/// Beyond this many tracked keys, stale ones are pruned on every failure, so
/// a spray of made-up names cannot grow memory without bound.
const THROTTLE_MAX_KEYS: usize = 100_000;

impl Throttle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(name: &str, source: Option<IpAddr>) -> [(String, u32); 2] {
        [
            (format!("login:{name}"), 0),
            (source.map(|s| format!("addr:{s}")).unwrap_or_default(), 1),
        ]
    }

    /// Refuses if this name or address has too many recent failures.
    pub fn check(
        &self,
        name: &str,
        source: Option<IpAddr>,
        now: UnixTime,
    ) -> Result<(), VaultError> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for (key, which) in Self::keys(name, source) {
            if key.is_empty() {
                continue;
            }
            let limit = if which == 0 {
                self.limits.per_login
            } else {
                self.limits.per_source
            };
            if let Some(times) = map.get(&key) {
                let recent: Vec<_> = times
                    .iter()
                    .filter(|t| now - **t < self.limits.window_secs)
                    .collect();
                if recent.len() as u32 >= limit {
                    let oldest = recent.iter().map(|t| **t).min().unwrap_or(now);
                    return Err(VaultError::Throttled {
                        retry_after_secs: (oldest + self.limits.window_secs - now).max(1) as u64,
                    });
                }
            }
        }
        Ok(())
    }

    pub fn failed(&self, name: &str, source: Option<IpAddr>, now: UnixTime) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > THROTTLE_MAX_KEYS {
            let w = self.limits.window_secs;
            map.retain(|_, v| v.iter().any(|t| now - *t < w));
        }
        for (key, _) in Self::keys(name, source) {
            if key.is_empty() {
                continue;
            }
            let v = map.entry(key).or_default();
            v.retain(|t| now - *t < self.limits.window_secs);
            v.push(now);
        }
    }

    /// A success clears the login's count (not the address's: one good
    /// password must not reset a spray from the same address).
    pub fn succeeded(&self, name: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("login:{name}"));
    }
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

/// Argon2 is deliberately slow; run it off the async threads.
async fn unwrap_blocking(
    record: &CredentialRecord,
    input: Zeroizing<Vec<u8>>,
    public_key: String,
) -> Result<MailboxSecret, VaultError> {
    let wrapped = record.wrapped.clone();
    tokio::task::spawn_blocking(move || wrap::unwrap(&wrapped, &input, &public_key))
        .await
        .map_err(|e| VaultError::Parameter(format!("key derivation task failed: {e}")))?
}

impl Authenticator {
    /// Unlocks with a login name and a password or app token, where no
    /// one-time code can be asked for (mail programs, the API without
    /// one): a password of a login with two-step sign-in is refused with
    /// [`VaultError::SecondStepNeeded`]; its app tokens work.
    pub async fn unlock(
        &self,
        login_name: &str,
        secret: &str,
        source: Option<IpAddr>,
    ) -> Result<Unlocked, VaultError> {
        match self.unlock_first_step(login_name, secret, source).await? {
            FirstStep::Done(u) => Ok(u),
            FirstStep::CodeNeeded(_) => Err(VaultError::SecondStepNeeded),
        }
    }

    /// The first step of a sign-in that can ask for a one-time code (the
    /// web page): the password (or app token) checked, and for a password
    /// of a login with two-step sign-in, the key to check the code with.
    /// The failure count of the login is cleared only once signed in, so
    /// a known password does not buy fresh guesses at the code.
    pub async fn unlock_first_step(
        &self,
        login_name: &str,
        secret: &str,
        source: Option<IpAddr>,
    ) -> Result<FirstStep, VaultError> {
        let name = login_name.trim().to_ascii_lowercase();
        let now = self.clock.now();
        self.throttle.check(&name, source, now)?;
        let result = self.try_unlock(&name, secret).await;
        let u = self.settle(&name, source, now, result).await?;
        if u.kind == CredentialKind::Password
            && let Some(record) = self.credentials.totp(u.login.id).await?
        {
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
        self.throttle.succeeded(&name);
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
        if let Err(error) = self.throttle.check(&name, source, now) {
            return Err(SecondStepFailed { error, again: None });
        }
        let fresh = match half.key.check(code, now) {
            None => false,
            Some(step) => match self
                .credentials
                .use_totp_step(half.unlocked.login.id, step)
                .await
            {
                Ok(fresh) => fresh,
                Err(e) => {
                    return Err(SecondStepFailed {
                        error: e.into(),
                        again: Some(half),
                    });
                }
            },
        };
        if !fresh {
            self.throttle.failed(&name, source, now);
            tracing::info!(login = %name, source = ?source, "failed second step");
            return Err(SecondStepFailed {
                error: VaultError::BadCode,
                again: Some(half),
            });
        }
        self.throttle.succeeded(&name);
        Ok(half.unlocked)
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
        self.throttle.check(&name, source, now)?;
        let result = self.try_recovery(&name, code).await;
        let u = self.settle(&name, source, now, result).await?;
        // The recovery code is the way in when the phone with the
        // authenticator app is lost: no second step after it.
        self.throttle.succeeded(&name);
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
                self.throttle.failed(name, source, now);
                tracing::info!(login = %name, source = ?source, "failed unlock");
                Err(VaultError::BadCredential)
            }
            Err(other) => Err(other),
        }
    }

    async fn dummy_work(&self) {
        let params = self.params;
        let _ =
            tokio::task::spawn_blocking(move || params.derive(b"not a real password", &[0u8; 16]))
                .await;
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

    async fn try_unlock(&self, name: &str, secret: &str) -> Result<Unlocked, VaultError> {
        let login = self.credentials.login_by_name(name).await?;
        if let Some((cred_id, token_secret)) = parse_app_token(secret) {
            // App tokens are random, so checking one is fast whether or not
            // the login exists; there is nothing to equalise.
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
            return Ok(Unlocked {
                account,
                login,
                credential: record.id,
                kind: CredentialKind::AppToken,
                secret,
            });
        }
        let password = Zeroizing::new(secret.as_bytes().to_vec());
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

    #[test]
    fn throttle_counts_per_login_and_per_address() {
        let t = Throttle::new(ThrottleLimits {
            per_login: 3,
            per_source: 5,
            window_secs: 60,
        });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            t.check("a", Some(ip), 0).unwrap();
            t.failed("a", Some(ip), 0);
        }
        assert!(matches!(
            t.check("a", Some(ip), 1),
            Err(VaultError::Throttled {
                retry_after_secs: 59
            })
        ));
        // Another name from the same address still has room…
        t.check("b", Some(ip), 1).unwrap();
        t.failed("b", Some(ip), 1);
        t.failed("c", Some(ip), 1);
        // …until the address itself is over its limit.
        assert!(t.check("d", Some(ip), 2).is_err());
        // The window slides.
        assert!(t.check("a", None, 61).is_ok());
    }

    #[test]
    fn success_clears_only_the_login() {
        let t = Throttle::new(ThrottleLimits {
            per_login: 1,
            per_source: 2,
            window_secs: 60,
        });
        let ip: IpAddr = "::1".parse().unwrap();
        t.failed("a", Some(ip), 0);
        t.succeeded("a");
        assert!(t.check("a", None, 0).is_ok());
        t.failed("b", Some(ip), 0);
        assert!(t.check("z", Some(ip), 0).is_err());
    }
}
