//! Account operations that make or change credentials. They live in the
//! vault because the vault is the one place that creates, wraps and checks
//! keys; everything else only sees wrapped bytes.

use crate::QueueKey;
use crate::VaultError;
use crate::auth::Unlocked;
use crate::codes;
use crate::provision::{self, check_new_password};
use crate::wrap::KdfParams;
use athen_core::account::{Account, AccountEvent, AccountKind, CredentialKind, Doors};
use athen_core::clock::Clock;
use athen_core::directory::{EntryInput, EntryRole};
use athen_core::identifiers::email_address;
use athen_core::store::{AccountStore, CreatedAccount, CredentialStore, MetadataStore, NewAccount};
use athen_core::{AccountId, CredentialId, EntryId, Invalid, LoginId, MailboxId, StoreError};
use serde::Serialize;
use thiserror::Error;
use zeroize::Zeroizing;

#[derive(Debug, Error)]
pub enum AccountError {
    /// Input that cannot be accepted; every problem found is listed.
    #[error("{}", .0.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Invalid>),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Invalid> for AccountError {
    fn from(i: Invalid) -> Self {
        Self::Invalid(vec![i])
    }
}

/// A registration, as typed.
#[derive(Debug, Clone)]
pub struct Registration {
    pub kind: AccountKind,
    pub address: String,
    pub entry: EntryInput,
}

/// What registration hands back, once. The codes are not kept by the server.
#[derive(Debug)]
pub struct Registered {
    pub created: CreatedAccount,
    pub address: String,
    pub public_key: String,
    pub recovery_code: Zeroizing<String>,
    /// For the welcome letter.
    pub confirmation_code: Zeroizing<String>,
}

/// Creates an account with its directory entry, mailbox keys, password and
/// recovery code, in one atomic store operation.
pub async fn register(
    accounts: &dyn AccountStore,
    clock: &dyn Clock,
    reg: &Registration,
    password: &str,
    params: KdfParams,
) -> Result<Registered, AccountError> {
    let mut problems = Vec::new();
    let address = email_address(&reg.address)
        .map_err(|e| problems.push(e))
        .ok();
    let role = match reg.kind {
        AccountKind::Organisation => EntryRole::Organisation,
        AccountKind::Individual => EntryRole::Individual,
    };
    let details = reg
        .entry
        .validate(role)
        .map_err(|e| problems.extend(e))
        .ok();
    if let Err(e) = check_new_password(password) {
        problems.push(e);
    }
    let (Some(address), Some(details), true) = (address, details, problems.is_empty()) else {
        return Err(AccountError::Invalid(problems));
    };
    if accounts.account_by_address(&address).await?.is_some() {
        return Err(
            StoreError::Conflict(format!("the address {address} is already in use")).into(),
        );
    }
    let password = Zeroizing::new(password.to_string());
    let mailbox = tokio::task::spawn_blocking(move || provision::new_mailbox(&password, params))
        .await
        .map_err(|e| VaultError::Parameter(format!("key generation task failed: {e}")))??;
    let confirmation_code = codes::new_confirmation_code()?;
    let created = accounts
        .create_account(NewAccount {
            kind: reg.kind,
            address: address.clone(),
            name: details.display_name(),
            details,
            public_key: mailbox.public_key.clone(),
            credentials: mailbox.credentials,
            created_at: clock.now(),
            confirmation_hash: Some(codes::code_hash(&confirmation_code)),
        })
        .await?;
    tracing::info!(account = %created.account_id, kind = %reg.kind, "account created");
    Ok(Registered {
        created,
        address,
        public_key: mailbox.public_key,
        recovery_code: mailbox.recovery_code,
        confirmation_code,
    })
}

/// A login with its mailbox unlocked: what changing its own credentials
/// needs (from an [`Unlocked`], or a web session holding the secret).
#[derive(Clone, Copy)]
pub struct Holder<'a> {
    pub login: LoginId,
    pub secret: &'a crate::MailboxSecret,
}

impl<'a> From<&'a Unlocked> for Holder<'a> {
    fn from(u: &'a Unlocked) -> Self {
        Holder {
            login: u.login.id,
            secret: &u.secret,
        }
    }
}

/// An app token just issued; the token text is shown once.
#[derive(Debug)]
pub struct IssuedToken {
    pub id: CredentialId,
    pub token: Zeroizing<String>,
}

/// Issues a named app token for the login that unlocked the mailbox,
/// opening `doors` (never the web app).
pub async fn issue_app_token(
    credentials: &dyn CredentialStore,
    clock: &dyn Clock,
    holder: Holder<'_>,
    label: &str,
    doors: Doors,
) -> Result<IssuedToken, AccountError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 60 || label.chars().any(char::is_control) {
        return Err(Invalid::new(
            "Token name",
            "must be 1 to 60 characters, e.g. 'Downloader at front desk'",
        )
        .into());
    }
    if (doors.bits() & Doors::ANY_TOKEN.bits()) == 0 {
        return Err(Invalid::new(
            "Doors",
            "choose at least one: the downloader, the API, IMAP or SMTP",
        )
        .into());
    }
    let (cred, secret) = provision::app_token_credential(holder.secret, label, doors)?;
    let id = credentials
        .add_credential(holder.login, cred, clock.now())
        .await?;
    Ok(IssuedToken {
        id,
        token: codes::format_app_token(id, &secret),
    })
}

/// Gives a staff member of an organisation their own login on the
/// organisation's mailbox, with their own password over the same key.
pub async fn add_staff_login(
    credentials: &dyn CredentialStore,
    clock: &dyn Clock,
    (account, secret): (&Account, &crate::MailboxSecret),
    staff_entry: EntryId,
    login_name: &str,
    password: &str,
    params: KdfParams,
) -> Result<LoginId, AccountError> {
    if account.kind != AccountKind::Organisation {
        return Err(Invalid::new("Account", "only organisation accounts have staff logins").into());
    }
    let name = email_address(login_name).map_err(|e| Invalid::new("Login name", e.reason))?;
    check_new_password(password)?;
    let cred = provision::password_credential(secret, password, params)?;
    let (login, _) = credentials
        .add_login(account.id, &name, Some(staff_entry), cred, clock.now())
        .await?;
    Ok(login)
}

/// Changes the password of the login that unlocked the mailbox: re-wraps
/// the same secret; no mail is re-encrypted.
pub async fn change_password(
    credentials: &dyn CredentialStore,
    clock: &dyn Clock,
    holder: Holder<'_>,
    new_password: &str,
    params: KdfParams,
) -> Result<(), AccountError> {
    check_new_password(new_password)?;
    let cred = provision::password_credential(holder.secret, new_password, params)?;
    let existing = credentials.live_credentials(holder.login).await?;
    match existing.iter().find(|c| c.kind == CredentialKind::Password) {
        Some(c) => credentials.rewrap_credential(c.id, cred.wrapped).await?,
        None => {
            credentials
                .add_credential(holder.login, cred, clock.now())
                .await?;
        }
    }
    Ok(())
}

/// Replaces the recovery code (after it was used, or on request); the old
/// one stops working. Returns the new code, to be shown once.
pub async fn renew_recovery_code(
    credentials: &dyn CredentialStore,
    clock: &dyn Clock,
    holder: Holder<'_>,
) -> Result<Zeroizing<String>, AccountError> {
    let now = clock.now();
    let (cred, code) = provision::recovery_credential(holder.secret)?;
    for c in credentials.live_credentials(holder.login).await? {
        if c.kind == CredentialKind::RecoveryCode {
            credentials.revoke_credential(c.id, now).await?;
        }
    }
    credentials.add_credential(holder.login, cred, now).await?;
    Ok(code)
}

/// Turns two-step sign-in on for the holder's login with `key`, once
/// `code` shows the person's app has it. The code's step counts as used,
/// so the same code cannot then sign in. A key already set is replaced
/// (a new phone).
pub async fn enable_two_step(
    credentials: &dyn CredentialStore,
    clock: &dyn Clock,
    holder: Holder<'_>,
    mailbox: MailboxId,
    key: &crate::totp::TotpKey,
    code: &str,
) -> Result<(), VaultError> {
    let now = clock.now();
    let step = key.check(code, now).ok_or(VaultError::BadCode)?;
    credentials
        .set_totp(athen_core::account::TotpRecord {
            login_id: holder.login,
            mailbox_id: mailbox,
            sealed_key: key.seal(holder.secret, holder.login)?,
            last_step: step,
            created_at: now,
        })
        .await?;
    Ok(())
}

/// Turns two-step sign-in off for the holder's login.
pub async fn disable_two_step(
    credentials: &dyn CredentialStore,
    holder: Holder<'_>,
) -> Result<(), VaultError> {
    Ok(credentials.remove_totp(holder.login).await?)
}

/// What a reset without any surviving credential costs.
#[derive(Debug, Clone, Serialize)]
pub struct MailLoss {
    pub retired_mailbox: MailboxId,
    pub new_mailbox: MailboxId,
    pub messages_unreadable: u64,
    pub spooled_unreadable: u64,
}

/// The last resort when every credential is lost: the account gets a new
/// mailbox with new keys and a new password and recovery code. The old
/// mailbox's mail is kept but can never be read again; staff logins and app
/// tokens stop working. Returns what was lost and the new recovery code.
pub async fn reset_discarding_mail(
    store: &dyn MetadataStore,
    clock: &dyn Clock,
    account: &Account,
    new_password: &str,
    params: KdfParams,
    actor: &str,
) -> Result<(MailLoss, Zeroizing<String>), AccountError> {
    check_new_password(new_password)?;
    let messages = store.count_messages(account.mailbox_id).await?;
    let spooled = store.spool_entries(account.mailbox_id).await?.len() as u64;
    let password = Zeroizing::new(new_password.to_string());
    let fresh = tokio::task::spawn_blocking(move || provision::new_mailbox(&password, params))
        .await
        .map_err(|e| VaultError::Parameter(format!("key generation task failed: {e}")))??;
    let new_mailbox = store
        .replace_mailbox(
            account.id,
            fresh.public_key.clone(),
            fresh.credentials,
            AccountEvent {
                account_id: account.id,
                at: clock.now(),
                actor: actor.to_string(),
                event: "credentials-reset".into(),
                detail: format!(
                    "all credentials replaced with new keys; mailbox {} retired with {messages} stored and {spooled} spooled messages that can no longer be read",
                    account.mailbox_id
                ),
            },
        )
        .await?;
    // Two-step keys were sealed with the retired mailbox's data key.
    for login in store.logins_of_account(account.id).await? {
        store.remove_totp(login.id).await?;
    }
    Ok((
        MailLoss {
            retired_mailbox: account.mailbox_id,
            new_mailbox,
            messages_unreadable: messages,
            spooled_unreadable: spooled,
        },
        fresh.recovery_code,
    ))
}

/// The associated data that ties a sealed confirmation code to its account.
fn letter_binding(id: AccountId) -> String {
    format!("welcome-letter:{}", id.0)
}

/// Keeps the welcome letter of a just registered account for printing:
/// its confirmation code sealed with the server's key.
pub async fn keep_welcome_letter(
    accounts: &dyn AccountStore,
    clock: &dyn Clock,
    key: &QueueKey,
    id: AccountId,
    code: &str,
    actor: &str,
) -> Result<(), AccountError> {
    let sealed = key.encrypt(&letter_binding(id), code.as_bytes())?;
    accounts
        .set_welcome_letter(
            id,
            codes::code_hash(code),
            sealed,
            AccountEvent {
                account_id: id,
                at: clock.now(),
                actor: actor.to_string(),
                event: "welcome-letter".into(),
                detail: "a welcome letter with a confirmation code is ready to post".into(),
            },
        )
        .await?;
    Ok(())
}

/// A new welcome letter with a new code, for one that was lost: the old
/// code stops working.
pub async fn resend_welcome_letter(
    accounts: &dyn AccountStore,
    clock: &dyn Clock,
    key: &QueueKey,
    id: AccountId,
    actor: &str,
) -> Result<(), AccountError> {
    let code = codes::new_confirmation_code()?;
    keep_welcome_letter(accounts, clock, key, id, &code, actor).await
}

/// The confirmation code of a kept letter, to print it.
pub fn welcome_letter_code(
    key: &QueueKey,
    letter: &athen_core::store::WelcomeLetter,
) -> Result<Zeroizing<String>, AccountError> {
    let plain = key.decrypt(&letter_binding(letter.account_id), &letter.sealed_code)?;
    String::from_utf8(plain.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Corrupt("a kept confirmation code is not text").into())
}
