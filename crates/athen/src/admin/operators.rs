//! `athen admin operator …`: the administrators of the web pages.

use super::*;

#[derive(Subcommand)]
pub(super) enum OperatorCommand {
    /// Create an administrator. Standard input: the password.
    Create {
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Turn an administrator's two-step sign-in off (a lost phone): the
    /// password alone signs in again.
    TwoStepOff { login: String },
    /// Print a new one-time link for creating the first administrator.
    SetupLink {
        /// The server's HTTPS base URL.
        #[arg(long, default_value = "https://localhost:8443/")]
        base_url: String,
    },
}

impl Admin {
    pub(super) async fn operator(&self, cmd: OperatorCommand) -> Outcome {
        let s = &self.data.store;
        match cmd {
            OperatorCommand::Create {
                login,
                name,
                password_stdin,
            } => {
                require_stdin(password_stdin)?;
                let pw = stdin_lines(1, "the administrator's password")?;
                athen_vault::provision::check_new_password(&pw[0])?;
                let login = login.trim().to_ascii_lowercase();
                if login.is_empty()
                    || !login
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
                {
                    return Err(CommandError::invalid(
                        "the login may use letters, digits and . - _ @ only",
                    ));
                }
                let kdf = self.config.kdf_params();
                let pw0 = pw[0].clone();
                let verifier = tokio::task::spawn_blocking(move || {
                    codes::password_verifier(pw0.as_bytes(), kdf)
                })
                .await
                .map_err(|e| CommandError::new(exit::FAILURE, e.to_string()))??;
                let id = s
                    .add_operator(name.trim(), &login, verifier, self.data.clock.now())
                    .await?;
                Ok((
                    json!({"id": id.0, "login": login}),
                    format!("administrator {login} created"),
                ))
            }
            OperatorCommand::TwoStepOff { login } => {
                let login = login.trim().to_ascii_lowercase();
                let op = s.operator_by_login(&login).await?.ok_or_else(|| {
                    CommandError::not_found(format!("no administrator is named {login}"))
                })?;
                let was_on = op.totp_sealed.is_some();
                s.set_operator_totp(op.id, None).await?;
                Ok((
                    json!({"login": login, "was_on": was_on}),
                    format!(
                        "two-step sign-in of administrator {login} is off{}",
                        if was_on { "" } else { " (it was not on)" }
                    ),
                ))
            }
            OperatorCommand::SetupLink { base_url } => {
                if s.count_operators().await? > 0 {
                    return Err(CommandError::new(
                        exit::CONFLICT,
                        "an administrator already exists; use `operator create` to add another",
                    ));
                }
                let token = codes::new_bootstrap_token()?;
                s.set_bootstrap_token(codes::code_hash(&token), self.data.clock.now())
                    .await?;
                let url = format!(
                    "{}/setup?token={}",
                    base_url.trim_end_matches('/'),
                    token.as_str()
                );
                Ok((
                    json!({"url": url}),
                    format!("Open this link once to create the first administrator:\n  {url}"),
                ))
            }
        }
    }
}
