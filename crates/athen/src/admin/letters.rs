//! `athen admin letters …`: welcome letters waiting, printed, posted.

use super::*;

#[derive(Subcommand)]
pub(super) enum LettersCommand {
    /// The letters waiting to be posted.
    List,
    /// Writes the letters waiting to be posted into one PDF to print.
    Print {
        /// The PDF file to write.
        #[arg(long)]
        out: PathBuf,
        /// Also the letters already posted (of accounts still unconfirmed).
        #[arg(long)]
        all: bool,
        /// The confirmation page printed in the letters [default:
        /// https://HOSTNAME/confirm, with the configuration's hostname].
        #[arg(long)]
        confirm_url: Option<String>,
    },
    /// Records that these accounts' letters were posted.
    Posted {
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// A new letter with a new code for an account whose letter was lost;
    /// the old code stops working.
    Resend { address: String },
}

impl Admin {
    pub(super) async fn letters(&self, cmd: LettersCommand) -> Outcome {
        let s = &self.data.store;
        let clock = self.data.clock.as_ref();
        let key = crate::keys::queue_key(&self.data.path)
            .map_err(|e| CommandError::new(exit::FAILURE, e.to_string()))?;
        match cmd {
            LettersCommand::List => {
                let mut rows = Vec::new();
                for l in s.welcome_letters(true).await? {
                    if let Some(a) = s.account(l.account_id).await? {
                        rows.push(json!({"address": a.address, "name": a.name, "made_at": rfc3339(l.created_at), "posted_at": time(l.posted_at)}));
                    }
                }
                let text = rows
                    .iter()
                    .map(|r| {
                        format!(
                            "{:<40} {:<10} {}",
                            r["address"].as_str().unwrap_or(""),
                            if r["posted_at"].is_null() {
                                "to post"
                            } else {
                                "posted"
                            },
                            r["name"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((
                    json!({"letters": rows}),
                    if text.is_empty() {
                        "no letters".into()
                    } else {
                        text
                    },
                ))
            }
            LettersCommand::Print {
                out,
                all,
                confirm_url,
            } => {
                let url = confirm_url
                    .unwrap_or_else(|| format!("https://{}/confirm", self.config.server.hostname));
                // The letterhead names the server the letter sends people to.
                let server = url
                    .split("://")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                    .unwrap_or(&self.config.server.hostname)
                    .to_string();
                let batch = athen_web::welcome_letter::print_waiting(
                    s.as_ref(),
                    &key,
                    all,
                    &url,
                    &server,
                    clock.now(),
                )
                .await
                .map_err(|e| CommandError::new(exit::FAILURE, e))?;
                let Some(batch) = batch else {
                    return Ok((json!({"letters": 0}), "no letters to print".into()));
                };
                std::fs::write(&out, &batch.pdf).map_err(|e| {
                    CommandError::new(exit::FAILURE, format!("{}: {e}", out.display()))
                })?;
                let addresses: Vec<&str> =
                    batch.accounts.iter().map(|a| a.address.as_str()).collect();
                Ok((
                    json!({"letters": addresses.len(), "file": out, "addresses": addresses}),
                    format!(
                        "{} letter(s) in {}; after posting: athen admin letters posted {}",
                        addresses.len(),
                        out.display(),
                        addresses.join(" ")
                    ),
                ))
            }
            LettersCommand::Posted { addresses } => {
                let mut done = Vec::new();
                for address in addresses {
                    let a = self.account_by_address(&address).await?;
                    let event = AccountEvent {
                        account_id: a.id,
                        at: clock.now(),
                        actor: ACTOR.into(),
                        event: "welcome-letter-posted".into(),
                        detail: "the welcome letter was posted".into(),
                    };
                    if !s.mark_letter_posted(a.id, event).await? {
                        return Err(CommandError::not_found(format!(
                            "{} has no letter waiting to be posted",
                            a.address
                        )));
                    }
                    done.push(a.address);
                }
                let text = format!("marked as posted: {}", done.join(", "));
                Ok((json!({"posted": done}), text))
            }
            LettersCommand::Resend { address } => {
                let a = self.account_by_address(&address).await?;
                if a.status != AccountStatus::Provisional {
                    return Err(CommandError::new(
                        exit::CONFLICT,
                        format!("{} is {}, not waiting for its letter", a.address, a.status),
                    ));
                }
                accounts::resend_welcome_letter(s.as_ref(), clock, &key, a.id, ACTOR).await?;
                Ok((
                    json!({"address": a.address, "letter": "new"}),
                    format!(
                        "a new letter with a new code is ready to print for {}; the old code no longer works",
                        a.address
                    ),
                ))
            }
        }
    }
}
