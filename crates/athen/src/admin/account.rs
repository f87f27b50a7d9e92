//! `athen admin account …`: create, show, list, confirm, suspend, reinstate,
//! close and reset accounts.

use super::*;

// Parsed once per run: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(super) enum AccountCommand {
    /// Create an account (provisional until confirmed). Prints the recovery
    /// code and the confirmation code for the welcome letter, once.
    Create {
        /// organisation or individual.
        #[arg(long)]
        kind: String,
        /// The organisation's name, or the person's full name ("Jane Citizen";
        /// the last word is taken as the family name unless --family is given).
        #[arg(long)]
        name: String,
        /// The account's e-mail address; also its login name.
        #[arg(long)]
        address: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        entry: EntryArgs,
    },
    /// List accounts.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        kind: Option<String>,
    },
    /// Everything about one account (no secrets, no mail).
    Show { address: String },
    /// Confirm a provisional account: with --code, the code from its letter
    /// is checked; without, the administrator confirms by hand.
    Confirm {
        address: String,
        #[arg(long)]
        code: Option<String>,
    },
    /// Suspend an account: it cannot log in or receive mail; nothing is lost.
    Suspend {
        address: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Lift a suspension.
    Reinstate { address: String },
    /// Close an account for good. Its data is kept; it cannot be reopened.
    Close {
        address: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Flag accounts unconfirmed too long, and close flagged ones past their
    /// grace period (the server does this hourly).
    Sweep,
    /// The account's history of administrative events.
    Events { address: String },
}

impl Admin {
    pub(super) async fn account_json(&self, a: &Account) -> Result<Value, CommandError> {
        let s = &self.data.store;
        let entries = s.entries_of_account(a.id).await?;
        let own = entries
            .iter()
            .find(|e| e.id == a.entry_id)
            .map(entry_json)
            .unwrap_or(Value::Null);
        let staff: Vec<Value> = entries
            .iter()
            .filter(|e| e.role == EntryRole::Staff)
            .map(entry_json)
            .collect();
        let logins: Vec<Value> = s
            .logins_of_account(a.id)
            .await?
            .iter()
            .map(|l| json!({"id": l.id.0, "name": l.name, "staff_entry_id": l.staff_entry_id.map(|e| e.0), "created_at": rfc3339(l.created_at), "disabled_at": time(l.disabled_at)}))
            .collect();
        let mailbox = s.mailbox(a.mailbox_id).await?;
        Ok(json!({
            "id": a.id.0,
            "kind": a.kind.as_str(),
            "status": a.status.as_str(),
            "address": a.address,
            "name": a.name,
            "created_at": rfc3339(a.created_at),
            "status_changed_at": rfc3339(a.status_changed_at),
            "confirmed_at": time(a.confirmed_at),
            "flagged_at": time(a.flagged_at),
            "mailbox": {
                "id": a.mailbox_id.0,
                "public_key": mailbox.map(|m| m.public_key),
                "messages": s.count_messages(a.mailbox_id).await?,
                "spooled": s.spool_entries(a.mailbox_id).await?.len(),
            },
            "directory": own,
            "staff": staff,
            "logins": logins,
        }))
    }

    fn account_text(v: &Value) -> String {
        format!(
            "{} <{}>\n  kind: {}  status: {}  created: {}\n  mailbox: {} ({} messages, {} waiting in the spool)",
            v["name"].as_str().unwrap_or(""),
            v["address"].as_str().unwrap_or(""),
            v["kind"].as_str().unwrap_or(""),
            v["status"].as_str().unwrap_or(""),
            v["created_at"].as_str().unwrap_or(""),
            v["mailbox"]["id"],
            v["mailbox"]["messages"],
            v["mailbox"]["spooled"],
        )
    }

    pub(super) async fn account(&self, cmd: AccountCommand) -> Outcome {
        let s = &self.data.store;
        let clock = self.data.clock.as_ref();
        match cmd {
            AccountCommand::Create {
                kind,
                name,
                address,
                password_stdin,
                entry,
            } => {
                require_stdin(password_stdin)?;
                let kind: AccountKind = kind.parse()?;
                let mut input = entry.input();
                match kind {
                    AccountKind::Organisation => input.organisation_name = Some(name.clone()),
                    AccountKind::Individual => {
                        if input.family_name.is_none() {
                            let name = name.trim();
                            let (given, family) = match name.rsplit_once(' ') {
                                Some((g, f)) => (Some(g.trim().to_string()), f.to_string()),
                                None => (None, name.to_string()),
                            };
                            input.family_name = Some(family);
                            if input.given_name.is_none() {
                                input.given_name = given;
                            }
                        }
                    }
                }
                let pw = stdin_lines(1, "the new account's password")?;
                let reg = Registration {
                    kind,
                    address,
                    entry: input,
                };
                let done =
                    accounts::register(s.as_ref(), clock, &reg, &pw[0], self.config.kdf_params())
                        .await?;
                let key = crate::keys::queue_key(&self.data.path)
                    .map_err(|e| CommandError::new(exit::FAILURE, e.to_string()))?;
                accounts::keep_welcome_letter(
                    s.as_ref(),
                    clock,
                    &key,
                    done.created.account_id,
                    &done.confirmation_code,
                    ACTOR,
                )
                .await?;
                let account = s.account(done.created.account_id).await?.ok_or_else(|| {
                    CommandError::new(exit::FAILURE, "account vanished after creation")
                })?;
                let mut v = self.account_json(&account).await?;
                v["recovery_code"] = json!(done.recovery_code.as_str());
                v["confirmation_code"] = json!(done.confirmation_code.as_str());
                let text = format!(
                    "{}\n\nRecovery code (shown only now; give it to the account holder to keep safe):\n  {}\n\
Confirmation code for the welcome letter:\n  {}",
                    Self::account_text(&v),
                    done.recovery_code.as_str(),
                    done.confirmation_code.as_str()
                );
                Ok((v, text))
            }
            AccountCommand::List { status, kind } => {
                let filter = AccountFilter {
                    status: status.map(|x| x.parse::<AccountStatus>()).transpose()?,
                    kind: kind.map(|x| x.parse::<AccountKind>()).transpose()?,
                    provisional_before: None,
                };
                let list = s.list_accounts(&filter).await?;
                let rows: Vec<Value> = list
                    .iter()
                    .map(|a| json!({"id": a.id.0, "address": a.address, "name": a.name, "kind": a.kind.as_str(), "status": a.status.as_str(), "created_at": rfc3339(a.created_at), "flagged_at": time(a.flagged_at)}))
                    .collect();
                let text = list
                    .iter()
                    .map(|a| {
                        format!(
                            "{:<40} {:<12} {:<12} {}{}",
                            a.address,
                            a.kind,
                            a.status,
                            a.name,
                            if a.flagged_at.is_some() {
                                "  [flagged: unconfirmed too long]"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((
                    json!({"accounts": rows}),
                    if text.is_empty() {
                        "no accounts".into()
                    } else {
                        text
                    },
                ))
            }
            AccountCommand::Show { address } => {
                let a = self.account_by_address(&address).await?;
                let v = self.account_json(&a).await?;
                let text = Self::account_text(&v);
                Ok((v, text))
            }
            AccountCommand::Confirm { address, code } => {
                let a = self.account_by_address(&address).await?;
                let how = match code {
                    Some(code) => {
                        let hash = s.confirmation_hash(a.id).await?;
                        if !hash.is_some_and(|h| codes::code_matches(&code, &h)) {
                            return Err(CommandError::new(
                                exit::DENIED,
                                "that confirmation code is not right for this account",
                            ));
                        }
                        "with the code from the welcome letter"
                    }
                    None => "by the administrator",
                };
                self.status(&a, StatusAction::Confirm, how).await
            }
            AccountCommand::Suspend { address, reason } => {
                let a = self.account_by_address(&address).await?;
                self.status(&a, StatusAction::Suspend, &reason).await
            }
            AccountCommand::Reinstate { address } => {
                let a = self.account_by_address(&address).await?;
                self.status(&a, StatusAction::Reinstate, "").await
            }
            AccountCommand::Close { address, reason } => {
                let a = self.account_by_address(&address).await?;
                self.status(&a, StatusAction::Close, &reason).await
            }
            AccountCommand::Sweep => {
                let r =
                    lifecycle::sweep_unconfirmed(s.as_ref(), clock, self.config.expiry_policy())
                        .await?;
                let text = format!(
                    "flagged: {}\nclosed: {}",
                    r.flagged.join(", "),
                    r.closed.join(", ")
                );
                Ok((serde_json::to_value(&r).unwrap_or(Value::Null), text))
            }
            AccountCommand::Events { address } => {
                let a = self.account_by_address(&address).await?;
                let ev = s.events(a.id).await?;
                let rows: Vec<Value> = ev
                    .iter()
                    .map(|e| json!({"at": rfc3339(e.at), "actor": e.actor, "event": e.event, "detail": e.detail}))
                    .collect();
                let text = ev
                    .iter()
                    .map(|e| {
                        format!(
                            "{}  {:<18} {:<10} {}",
                            rfc3339(e.at),
                            e.event,
                            e.actor,
                            e.detail
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((json!({"events": rows}), text))
            }
        }
    }

    pub(super) async fn status(&self, a: &Account, action: StatusAction, reason: &str) -> Outcome {
        let next = lifecycle::change_status(
            self.data.store.as_ref(),
            self.data.clock.as_ref(),
            a,
            action,
            ACTOR,
            reason,
        )
        .await?;
        let text = format!("{}: {} → {}", a.address, a.status, next);
        Ok((
            json!({"address": a.address, "previous": a.status.as_str(), "status": next.as_str()}),
            text,
        ))
    }
}
