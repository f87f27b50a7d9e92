//! Account life cycle: status changes by administrators, and the sweep that
//! flags, then closes, accounts left unconfirmed. Nothing is ever deleted:
//! a closed account keeps its data and its history.

use crate::account::{Account, AccountEvent, AccountStatus, StatusAction};
use crate::clock::{Clock, UnixTime, rfc3339};
use crate::error::StoreError;
use crate::store::{AccountFilter, AccountStore};
use serde::Serialize;

/// Applies an administrator's action to an account's status, recording who
/// did it and why.
pub async fn change_status(
    accounts: &dyn AccountStore,
    clock: &dyn Clock,
    account: &Account,
    action: StatusAction,
    actor: &str,
    reason: &str,
) -> Result<AccountStatus, StoreError> {
    let next = account
        .status
        .apply(action, account.confirmed_at.is_some())
        .map_err(StoreError::State)?;
    let detail = if reason.trim().is_empty() {
        format!("{} → {}", account.status, next)
    } else {
        format!("{} → {}: {}", account.status, next, reason.trim())
    };
    accounts
        .set_status(
            account.id,
            next,
            AccountEvent {
                account_id: account.id,
                at: clock.now(),
                actor: actor.to_string(),
                event: action.as_str().to_string(),
                detail,
            },
        )
        .await?;
    Ok(next)
}

/// How long unconfirmed accounts may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// A provisional account older than this is flagged for the administrator.
    pub flag_after_days: u32,
    /// A flagged account still unconfirmed this long after flagging is closed.
    pub close_after_days: u32,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            flag_after_days: 21,
            close_after_days: 14,
        }
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub flagged: Vec<String>,
    pub closed: Vec<String>,
}

/// Flags provisional accounts that are overdue, and closes flagged ones past
/// their grace period. Safe to run as often as wanted.
pub async fn sweep_unconfirmed(
    accounts: &dyn AccountStore,
    clock: &dyn Clock,
    policy: ExpiryPolicy,
) -> Result<SweepReport, StoreError> {
    let now: UnixTime = clock.now();
    let day = 86_400i64;
    let overdue = accounts
        .list_accounts(&AccountFilter {
            provisional_before: Some(now - i64::from(policy.flag_after_days) * day),
            ..AccountFilter::default()
        })
        .await?;
    let mut report = SweepReport::default();
    for a in overdue {
        match a.flagged_at {
            None => {
                let closes = now + i64::from(policy.close_after_days) * day;
                accounts
                    .flag_account(
                        a.id,
                        AccountEvent {
                            account_id: a.id,
                            at: now,
                            actor: "system".into(),
                            event: "flagged".into(),
                            detail: format!(
                                "unconfirmed for more than {} days; will be closed on {} unless confirmed",
                                policy.flag_after_days,
                                &rfc3339(closes)[..10]
                            ),
                        },
                    )
                    .await?;
                report.flagged.push(a.address);
            }
            Some(flagged) if now - flagged >= i64::from(policy.close_after_days) * day => {
                change_status(
                    accounts,
                    clock,
                    &a,
                    StatusAction::Close,
                    "system",
                    "never confirmed; closed after the grace period (its data is kept)",
                )
                .await?;
                report.closed.push(a.address);
            }
            Some(_) => {}
        }
    }
    Ok(report)
}
