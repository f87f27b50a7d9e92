//! Logging in (LOGIN, AUTHENTICATE PLAIN) and the mailbox secret each
//! command borrows from the vault session for as long as it runs.

use super::*;

impl Conn {
    /// The session's mailbox secret, for this command; the session ended
    /// if there is none (it also counts as use, keeping it open).
    pub(super) fn secret(&mut self) -> Result<Arc<MailboxSecret>, Failure> {
        let u = self.user.as_ref().ok_or(Failure::SessionEnded)?;
        match self.ctx.sessions.get(&u.token) {
            Some((_, secret)) => Ok(secret),
            None => Err(Failure::SessionEnded),
        }
    }

    /// The secret, after checking (now and then) that the login may still
    /// log in.
    pub(super) async fn checked_secret(&mut self) -> Result<Arc<MailboxSecret>, Failure> {
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

    pub(super) fn mailbox(&self) -> Result<MailboxId, Failure> {
        self.user
            .as_ref()
            .map(|u| u.account.mailbox_id)
            .ok_or(Failure::SessionEnded)
    }

    pub(super) async fn login(&mut self, user: &str, password: &str) -> Done {
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

    pub(super) async fn authenticate(
        &mut self,
        mechanism: &str,
        initial: Option<Zeroizing<Vec<u8>>>,
    ) -> Done {
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
}
