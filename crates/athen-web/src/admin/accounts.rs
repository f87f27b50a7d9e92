//! Accounts: the list with what may be done to each in its status, the
//! actions (confirm, new letter, suspend, reinstate, close), and the log of
//! every operator action ("Who did what").

use super::*;

#[derive(Deserialize, Default)]
pub(crate) struct AccountsQuery {
    #[serde(default)]
    status: String,
    /// Set after an action, to say what was done.
    #[serde(default)]
    done: String,
}

/// The buttons for what may be done to an account in its status.
fn actions(op: &Operator, a: &Account) -> String {
    let csrf = csrf_of(&op.token);
    let button = |action: &str, label: &str, reason: bool, danger: bool| {
        let reason = if reason {
            format!(
                "<label for=\"reason-{action}-{id}\">Reason</label><input id=\"reason-{action}-{id}\" name=\"reason\" required>",
                id = a.id.0
            )
        } else {
            String::new()
        };
        format!(
            "<form method=\"post\" action=\"/admin/accounts/{}/{action}\" class=\"actions\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{reason}\
<button type=\"submit\"{}>{label}</button></form>",
            a.id.0,
            if danger { " class=\"danger\"" } else { "" }
        )
    };
    let mut out = String::new();
    match a.status {
        AccountStatus::Provisional => {
            out.push_str(&button("confirm", "Confirm by hand", false, false));
            out.push_str(&button("resend", "New letter", false, false));
        }
        AccountStatus::Confirmed => out.push_str(&button("suspend", "Suspend", true, true)),
        AccountStatus::Suspended => out.push_str(&button("reinstate", "Reinstate", false, false)),
        AccountStatus::Closed => {}
    }
    if a.status != AccountStatus::Closed {
        out.push_str(&button("close", "Close", true, true));
    }
    out
}

/// `GET /admin/accounts?status=`: accounts, those waiting and about to
/// expire first.
pub(crate) async fn accounts(
    State(state): State<Arc<WebState>>,
    SignedInOperator { admin, op }: SignedInOperator,
    Query(q): Query<AccountsQuery>,
) -> Response {
    let admin = &*admin;
    let status = match q.status.as_str() {
        "" => None,
        s => match s.parse::<AccountStatus>() {
            Ok(st) => Some(st),
            Err(e) => {
                return admin_page(
                    &op,
                    StatusCode::BAD_REQUEST,
                    "Accounts",
                    &format!("<p>{}</p>", escape(&e.to_string())),
                );
            }
        },
    };
    let list = match admin
        .store
        .list_accounts(&AccountFilter {
            status,
            ..AccountFilter::default()
        })
        .await
    {
        Ok(l) => l,
        Err(e) => return failed(&op, "accounts", e),
    };
    let now = state.clock.now();
    let closes = |a: &Account| closes_on(a, admin.expiry, now);
    let soon = i64::from(admin.expiry.close_after_days) * 86_400;
    let expiring: Vec<&Account> = list
        .iter()
        .filter(|a| closes(a).is_some_and(|c| c - now <= soon))
        .collect();
    let row = |a: &Account| {
        format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&a.name),
            escape(&a.address),
            a.kind.as_str(),
            a.status.as_str(),
            day(a.created_at),
            closes(a).map(day).unwrap_or_default(),
            actions(&op, a)
        )
    };
    let table = |caption: &str, rows: String| {
        format!(
            "<table>\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Address</th><th scope=\"col\">Kind</th>\
<th scope=\"col\">Status</th><th scope=\"col\">Registered</th><th scope=\"col\">Closes if not confirmed</th><th scope=\"col\">Actions</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n",
            escape(caption)
        )
    };
    let expiring_part = if expiring.is_empty() {
        "<p>No unconfirmed account is about to expire.</p>\n".to_string()
    } else {
        table(
            &format!(
                "Unconfirmed, closing within {} days",
                admin.expiry.close_after_days
            ),
            expiring.iter().map(|a| row(a)).collect(),
        )
    };
    let filters: String = ["", "provisional", "confirmed", "suspended", "closed"]
        .iter()
        .map(|s| {
            let label = if s.is_empty() { "all" } else { s };
            if *s == q.status {
                format!("<li><strong>{label}</strong></li>")
            } else {
                format!("<li><a href=\"/admin/accounts?status={s}\">{label}</a></li>")
            }
        })
        .collect();
    let done = match q.done.as_str() {
        "" => String::new(),
        d => format!("<p role=\"status\" class=\"done\">{}</p>\n", escape(d)),
    };
    let body = format!(
        "{done}<h2>About to expire</h2>\n<p>Accounts not confirmed within {} days are flagged, and closed {} days later (their data is kept).</p>\n{expiring_part}\
<h2>All accounts</h2>\n<nav aria-label=\"Show accounts\"><ul class=\"folders\">{filters}</ul></nav>\n{}",
        admin.expiry.flag_after_days,
        admin.expiry.close_after_days,
        if list.is_empty() {
            "<p>No accounts.</p>".to_string()
        } else {
            table("Accounts", list.iter().map(row).collect())
        }
    );
    admin_page(&op, StatusCode::OK, "Accounts", &body)
}

/// When the daily sweep ([`lifecycle::sweep_unconfirmed`]) will close an
/// unconfirmed account: its grace period after flagging, or, not yet
/// flagged, after it is flagged (at the latest by the next sweep).
fn closes_on(a: &Account, policy: ExpiryPolicy, now: UnixTime) -> Option<UnixTime> {
    let d = 86_400i64;
    let flag_after = i64::from(policy.flag_after_days) * d;
    let close_after = i64::from(policy.close_after_days) * d;
    (a.status == AccountStatus::Provisional).then(|| match a.flagged_at {
        Some(f) => f + close_after,
        None => (a.created_at + flag_after).max(now) + close_after,
    })
}

async fn account(
    admin: &AdminServices,
    id: i64,
) -> Result<Option<Account>, athen_core::StoreError> {
    admin.store.account(AccountId(id)).await
}

/// `POST /admin/accounts/{id}/{action}`: confirm, resend, suspend,
/// reinstate, close.
pub(crate) async fn account_action(
    State(state): State<Arc<WebState>>,
    Path((id, action)): Path<(i64, String)>,
    OperatorForm { admin, op, form: f }: OperatorForm<ActionForm>,
) -> Response {
    let admin = &*admin;
    let a = match account(admin, id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return admin_page(
                &op,
                StatusCode::NOT_FOUND,
                "No such account",
                "<p>There is no such account.</p>",
            );
        }
        Err(e) => return failed(&op, "account", e),
    };
    let who = actor(&op.session);
    let done = if action == "resend" {
        if a.status != AccountStatus::Provisional {
            Err("only an account not yet confirmed gets a new letter".to_string())
        } else {
            athen_vault::accounts::resend_welcome_letter(
                admin.store.as_ref(),
                state.clock.as_ref(),
                &admin.letters_key,
                a.id,
                &who,
            )
            .await
            .map(|()| {
                format!(
                    "A new letter for {} is waiting to be printed; the old code no longer works.",
                    a.address
                )
            })
            .map_err(|e| e.to_string())
        }
    } else {
        let step = match action.as_str() {
            "confirm" => Some((StatusAction::Confirm, "by the administrator")),
            "suspend" => Some((StatusAction::Suspend, f.reason.trim())),
            "reinstate" => Some((StatusAction::Reinstate, "")),
            "close" => Some((StatusAction::Close, f.reason.trim())),
            _ => None,
        };
        let Some((step, reason)) = step else {
            return admin_page(
                &op,
                StatusCode::NOT_FOUND,
                "No such action",
                "<p>There is no such action.</p>",
            );
        };
        if matches!(step, StatusAction::Suspend | StatusAction::Close) && reason.is_empty() {
            Err("please give a reason: it is kept in the account's record".to_string())
        } else {
            lifecycle::change_status(
                admin.store.as_ref(),
                state.clock.as_ref(),
                &a,
                step,
                &who,
                reason,
            )
            .await
            .map(|now| format!("{} is now {now}.", a.address))
            .map_err(|e| e.to_string())
        }
    };
    match done {
        Ok(msg) => {
            tracing::info!(operator = %op.session.login, account = a.id.0, action = %action, "account changed");
            // A suspended or closed account's sessions end now (web, API,
            // IMAP) and its mailbox locks: its key leaves memory.
            if matches!(action.as_str(), "suspend" | "close")
                && let Some(mail) = &state.mail
            {
                let ended = mail.sessions.close_mailbox(a.mailbox_id);
                tracing::info!(account = a.id.0, sessions = ended, "sessions ended");
            }
            let mut q = String::new();
            for b in msg.bytes() {
                if b.is_ascii_alphanumeric() {
                    q.push(b as char);
                } else {
                    q.push_str(&format!("%{b:02X}"));
                }
            }
            see_other(&format!("/admin/accounts?done={q}"))
        }
        Err(why) => admin_page(
            &op,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not done",
            &format!(
                "<p class=\"error\" role=\"alert\">{}</p>\n<p><a href=\"/admin/accounts\">Back to the accounts</a></p>",
                escape(&why)
            ),
        ),
    }
}

/// `GET /admin/log`: every operator action on accounts (confirm,
/// suspend, reinstate, close, new letter, letter posted), from these
/// pages and from the command line, newest first: who, when, what, to
/// which account. Kept with each account's record; never mail content.
pub(crate) async fn log(SignedInOperator { admin, op }: SignedInOperator) -> Response {
    let admin = &*admin;
    let events = match admin.store.operator_events(500).await {
        Ok(e) => e,
        Err(e) => return failed(&op, "the log", e),
    };
    let rows: String = events
        .iter()
        .map(|(e, address)| {
            let who = e
                .actor
                .strip_prefix("operator:")
                .map(|l| format!("{l} (these pages)"))
                .unwrap_or_else(|| "the command line".into());
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(
                    &rfc3339(e.at)
                        .get(..16)
                        .unwrap_or_default()
                        .replace('T', " ")
                ),
                escape(&who),
                escape(&e.event),
                escape(address),
                escape(&e.detail)
            )
        })
        .collect();
    let body = if rows.is_empty() {
        "<p>No administrator has done anything to an account yet.</p>".to_string()
    } else {
        format!(
            "<table>\n<caption>The newest 500 actions</caption>\n<thead><tr><th scope=\"col\">When (UTC)</th>\
<th scope=\"col\">Who</th><th scope=\"col\">What</th><th scope=\"col\">Account</th><th scope=\"col\">Why / detail</th></tr></thead>\n\
<tbody>\n{rows}</tbody>\n</table>"
        )
    };
    admin_page(&op, StatusCode::OK, "Who did what", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfirmed_accounts_close_after_flagging_and_grace() {
        let policy = ExpiryPolicy {
            flag_after_days: 21,
            close_after_days: 14,
        };
        let d = 86_400;
        let mut a = Account {
            id: AccountId(1),
            kind: athen_core::account::AccountKind::Individual,
            address: "a@b.test".into(),
            name: "A".into(),
            status: AccountStatus::Provisional,
            mailbox_id: athen_core::MailboxId(1),
            entry_id: athen_core::ids::EntryId(1),
            created_at: 0,
            status_changed_at: 0,
            confirmed_at: None,
            flagged_at: None,
        };
        // New: flagged on day 21, closed 14 days later.
        assert_eq!(closes_on(&a, policy, 0), Some(35 * d));
        // Overdue but not yet flagged (the sweep runs daily): from now.
        assert_eq!(closes_on(&a, policy, 30 * d), Some(44 * d));
        // Flagged on day 22.
        a.flagged_at = Some(22 * d);
        assert_eq!(closes_on(&a, policy, 30 * d), Some(36 * d));
        a.status = AccountStatus::Confirmed;
        assert_eq!(closes_on(&a, policy, 30 * d), None);
    }
}
