//! `athen admin login|token|credential …`: staff logins, app tokens,
//! passwords, recovery codes and two-step sign-in of a login.

use super::*;

#[derive(Subcommand)]
pub(super) enum LoginCommand {
    /// Give a staff member their own login on the organisation's mailbox.
    /// Standard input: line 1 the organisation's password, line 2 the new
    /// staff password.
    Add {
        /// The organisation's address.
        address: String,
        /// The staff entry id (see `staff list`).
        #[arg(long)]
        staff: i64,
        /// The login name, e.g. jane.citizen@clinic.example; defaults to
        /// given.family+<organisation address>.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    List {
        address: String,
    },
    /// Disable a login; its credentials stop working at once.
    Disable {
        login: String,
    },
}

#[derive(Subcommand)]
pub(super) enum TokenCommand {
    /// Issue an app token for a login. Standard input: the login's password.
    /// The token is printed once.
    Issue {
        login: String,
        #[arg(long)]
        label: String,
        /// What the token opens: downloader, api, imap, smtp (comma
        /// separated) or all; never the web app.
        #[arg(long = "for", default_value = "all")]
        doors: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List an account's tokens (names and dates, never the tokens).
    List { address: String },
    /// Revoke a token by id; it stops working at once.
    Revoke { address: String, id: i64 },
}

#[derive(Subcommand)]
pub(super) enum CredentialCommand {
    /// Change a login's password. Standard input: line 1 the current password,
    /// line 2 the new one. Mail is untouched (the key is re-wrapped).
    ChangePassword {
        login: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password with the recovery code. Standard input: line 1 the
    /// recovery code, line 2 the new password. Mail is kept; a new recovery
    /// code is printed (the old one stops working).
    Recover {
        address: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Turn two-step sign-in off for a login whose phone is lost, once you
    /// have made sure who is asking. The password alone then signs in
    /// again, and the person can set it up anew in Settings.
    TwoStepOff { login: String },
    /// LAST RESORT, when every credential is lost: new keys and a new
    /// password (standard input). ALL EXISTING MAIL OF THE ACCOUNT BECOMES
    /// UNREADABLE FOR EVER (it is kept, but nobody can decrypt it), and staff
    /// logins and app tokens stop working. Requires --discard-mail.
    Reset {
        address: String,
        /// Confirms that the account's existing mail will be lost.
        #[arg(long)]
        discard_mail: bool,
        #[arg(long)]
        password_stdin: bool,
    },
}

impl Admin {
    /// The login's password checked before a credential change (a staff
    /// login, an app token, a new password): never an app token, as in the
    /// web app, so a token copied from a downloader PC changes nothing.
    pub(super) async fn unlock(
        &self,
        login: &str,
        secret: &str,
    ) -> Result<athen_vault::auth::Unlocked, CommandError> {
        Ok(self
            .data
            .authenticator(&self.config)
            .reauthenticate(login, secret, None, None)
            .await?)
    }

    pub(super) async fn login(&self, cmd: LoginCommand) -> Outcome {
        let s = &self.data.store;
        let clock = self.data.clock.as_ref();
        match cmd {
            LoginCommand::Add {
                address,
                staff,
                name,
                password_stdin,
            } => {
                require_stdin(password_stdin)?;
                let a = self.account_by_address(&address).await?;
                let entry = s
                    .entry(EntryId(staff))
                    .await?
                    .filter(|e| e.account_id == a.id && e.role == EntryRole::Staff)
                    .ok_or_else(|| {
                        CommandError::not_found(format!("{} has no staff entry {staff}", a.address))
                    })?;
                let name = name.unwrap_or_else(|| {
                    athen_core::directory::staff_login_name(&a.address, &entry.details)
                });
                let lines = stdin_lines(
                    2,
                    "line 1 the organisation's password, line 2 the new staff password",
                )?;
                let unlocked = self.unlock(&a.address, &lines[0]).await?;
                let id = accounts::add_staff_login(
                    s.as_ref(),
                    clock,
                    (&unlocked.account, &unlocked.secret),
                    entry.id,
                    &name,
                    &lines[1],
                    self.config.kdf_params(),
                )
                .await?;
                let name = name.trim().to_ascii_lowercase();
                Ok((
                    json!({"id": id.0, "name": name, "staff_entry_id": staff}),
                    format!("login {name} can now open {}'s mailbox", a.address),
                ))
            }
            LoginCommand::List { address } => {
                let a = self.account_by_address(&address).await?;
                let logins = s.logins_of_account(a.id).await?;
                let text = logins
                    .iter()
                    .map(|l| {
                        format!(
                            "{:<45} {}{}",
                            l.name,
                            if l.staff_entry_id.is_some() {
                                "staff"
                            } else {
                                "owner"
                            },
                            if l.disabled_at.is_some() {
                                " (disabled)"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                let rows: Vec<Value> = logins
                    .iter()
                    .map(|l| json!({"id": l.id.0, "name": l.name, "staff_entry_id": l.staff_entry_id.map(|e| e.0), "disabled_at": time(l.disabled_at)}))
                    .collect();
                Ok((json!({"logins": rows}), text))
            }
            LoginCommand::Disable { login } => {
                let name = login.trim().to_ascii_lowercase();
                let l = s
                    .login_by_name(&name)
                    .await?
                    .ok_or_else(|| CommandError::not_found(format!("no login is named {name}")))?;
                if l.staff_entry_id.is_none() {
                    return Err(CommandError::new(
                        exit::CONFLICT,
                        "this is the account's own login; suspend or close the account instead",
                    ));
                }
                s.disable_login(l.id, clock.now()).await?;
                Ok((json!({"disabled": name}), format!("login {name} disabled")))
            }
        }
    }

    pub(super) async fn token(&self, cmd: TokenCommand) -> Outcome {
        let s = &self.data.store;
        let clock = self.data.clock.as_ref();
        match cmd {
            TokenCommand::Issue {
                login,
                label,
                doors,
                password_stdin,
            } => {
                let doors = Doors::parse(&doors).map_err(|e| {
                    CommandError::new(exit::INVALID, format!("--for: {}", e.reason))
                })?;
                require_stdin(password_stdin)?;
                let pw = stdin_lines(1, "the login's password")?;
                let unlocked = self.unlock(&login, &pw[0]).await?;
                let t =
                    accounts::issue_app_token(s.as_ref(), clock, (&unlocked).into(), &label, doors)
                        .await?;
                Ok((
                    json!({"id": t.id.0, "label": label.trim(), "login": unlocked.login.name, "for": doors.names(), "token": t.token.as_str()}),
                    format!(
                        "App token {} for {} (shown only now):\n  {}",
                        t.id,
                        unlocked.login.name,
                        t.token.as_str()
                    ),
                ))
            }
            TokenCommand::List { address } => {
                let a = self.account_by_address(&address).await?;
                let logins = s.logins_of_account(a.id).await?;
                let creds = s.credentials_of_account(a.id).await?;
                let rows: Vec<Value> = creds
                    .iter()
                    .filter(|c| c.kind == athen_core::account::CredentialKind::AppToken)
                    .map(|c| {
                        let login = logins.iter().find(|l| l.id == c.login_id).map(|l| l.name.clone());
                        json!({"id": c.id.0, "label": c.label, "login": login, "for": c.doors.names(), "created_at": rfc3339(c.created_at), "last_used_at": time(c.last_used_at), "revoked_at": time(c.revoked_at)})
                    })
                    .collect();
                let text = rows
                    .iter()
                    .map(|r| {
                        format!(
                            "{:>6}  {:<30} {}  last used {}{}",
                            r["id"],
                            r["label"].as_str().unwrap_or(""),
                            r["login"].as_str().unwrap_or(""),
                            r["last_used_at"].as_str().unwrap_or("never"),
                            if r["revoked_at"].is_null() {
                                ""
                            } else {
                                "  (revoked)"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((json!({"tokens": rows}), text))
            }
            TokenCommand::Revoke { address, id } => {
                let a = self.account_by_address(&address).await?;
                let c = s
                    .credential(CredentialId(id))
                    .await?
                    .filter(|c| c.kind == athen_core::account::CredentialKind::AppToken)
                    .ok_or_else(|| CommandError::not_found(format!("no app token {id}")))?;
                let owner = s.login(c.login_id).await?.map(|l| l.account_id);
                if owner != Some(a.id) {
                    return Err(CommandError::not_found(format!(
                        "{} has no app token {id}",
                        a.address
                    )));
                }
                s.revoke_credential(c.id, clock.now()).await?;
                Ok((json!({"revoked": id}), format!("token {id} revoked")))
            }
        }
    }

    pub(super) async fn credential(&self, cmd: CredentialCommand) -> Outcome {
        let s = &self.data.store;
        let clock = self.data.clock.as_ref();
        match cmd {
            CredentialCommand::ChangePassword {
                login,
                password_stdin,
            } => {
                require_stdin(password_stdin)?;
                let lines = stdin_lines(2, "line 1 the current password, line 2 the new password")?;
                let unlocked = self.unlock(&login, &lines[0]).await?;
                accounts::change_password(
                    s.as_ref(),
                    clock,
                    (&unlocked).into(),
                    &lines[1],
                    self.config.kdf_params(),
                )
                .await?;
                Ok((
                    json!({"login": unlocked.login.name, "changed": true}),
                    format!(
                        "password of {} changed; mail untouched",
                        unlocked.login.name
                    ),
                ))
            }
            CredentialCommand::Recover {
                address,
                password_stdin,
            } => {
                require_stdin(password_stdin)?;
                let lines = stdin_lines(2, "line 1 the recovery code, line 2 the new password")?;
                let auth = self.data.authenticator(&self.config);
                let unlocked = auth
                    .unlock_with_recovery_code(&address, &lines[0], None)
                    .await?;
                accounts::change_password(
                    s.as_ref(),
                    clock,
                    (&unlocked).into(),
                    &lines[1],
                    self.config.kdf_params(),
                )
                .await?;
                let code =
                    accounts::renew_recovery_code(s.as_ref(), clock, (&unlocked).into()).await?;
                s.record_event(athen_core::account::AccountEvent {
                    account_id: unlocked.account.id,
                    at: clock.now(),
                    actor: ACTOR.into(),
                    event: "recovered".into(),
                    detail: "password set with the recovery code; new recovery code issued".into(),
                })
                .await?;
                Ok((
                    json!({"address": unlocked.account.address, "recovery_code": code.as_str()}),
                    format!(
                        "new password set for {}; mail kept.\nNew recovery code (shown only now):\n  {}",
                        unlocked.account.address,
                        code.as_str()
                    ),
                ))
            }
            CredentialCommand::TwoStepOff { login } => {
                let name = login.trim().to_ascii_lowercase();
                let l = s
                    .login_by_name(&name)
                    .await?
                    .ok_or_else(|| CommandError::invalid(format!("there is no login {name}")))?;
                let was_on = s.totp(l.id).await?.is_some();
                if was_on {
                    s.remove_totp(l.id).await?;
                    s.record_event(athen_core::account::AccountEvent {
                        account_id: l.account_id,
                        at: clock.now(),
                        actor: ACTOR.into(),
                        event: "two-step-off".into(),
                        detail: format!(
                            "two-step sign-in of {name} turned off by the administrator"
                        ),
                    })
                    .await?;
                }
                Ok((
                    json!({"login": name, "was_on": was_on}),
                    if was_on {
                        format!("two-step sign-in of {name} is off; the password alone signs in")
                    } else {
                        format!("{name} had no two-step sign-in; nothing changed")
                    },
                ))
            }
            CredentialCommand::Reset {
                address,
                discard_mail,
                password_stdin,
            } => {
                let a = self.account_by_address(&address).await?;
                if !discard_mail {
                    let count = s.count_messages(a.mailbox_id).await?
                        + s.spool_entries(a.mailbox_id).await?.len() as u64;
                    return Err(CommandError::invalid(format!(
                        "a reset makes all {count} messages of {} unreadable for ever, and stops its staff logins and app tokens. \
If the account holder still has a password or the recovery code, use `credential change-password` or \
`credential recover` instead, which keep the mail. To go ahead anyway, add --discard-mail.",
                        a.address
                    )));
                }
                require_stdin(password_stdin)?;
                let pw = stdin_lines(1, "the new password")?;
                let (loss, code) = accounts::reset_discarding_mail(
                    s.as_ref(),
                    clock,
                    &a,
                    &pw[0],
                    self.config.kdf_params(),
                    ACTOR,
                )
                .await?;
                let mut v = serde_json::to_value(&loss).unwrap_or(Value::Null);
                v["recovery_code"] = json!(code.as_str());
                v["address"] = json!(a.address);
                Ok((
                    v,
                    format!(
                        "{}: new keys and password. {} stored and {} spooled messages can no longer be read.\nNew recovery code (shown only now):\n  {}",
                        a.address,
                        loss.messages_unreadable,
                        loss.spooled_unreadable,
                        code.as_str()
                    ),
                ))
            }
        }
    }
}
