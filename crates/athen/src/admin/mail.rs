//! `athen admin queue|audit|deliver`: the outbound queue, a mailbox's
//! audit trail, and a message delivered into a spool from a file.

use super::*;

#[derive(Subcommand)]
pub(super) enum QueueCommand {
    /// Every message waiting in the queue, with each recipient's state.
    List,
    /// One queued message.
    Show { id: i64 },
    /// Try the waiting recipients of a message at the next queue pass.
    Retry { id: i64 },
}

#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// Check that every entry of each trail follows from the one before it
    /// (nothing removed, moved or changed). Needs no key and shows no
    /// content. Exit code 1 if any trail is broken.
    Verify {
        /// Only this account's mailbox.
        #[arg(long)]
        address: Option<String>,
    },
}

impl Admin {
    pub(super) async fn queue(&self, cmd: QueueCommand) -> Outcome {
        let s = &self.data.store;
        match cmd {
            QueueCommand::List => {
                let messages = s.queued_messages().await?;
                let rows: Vec<Value> = messages.iter().map(queued_json).collect();
                let text = if messages.is_empty() {
                    "the queue is empty".to_string()
                } else {
                    messages
                        .iter()
                        .map(queued_text)
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                Ok((json!({"messages": rows}), text))
            }
            QueueCommand::Show { id } => {
                let m = s
                    .queued_message(QueueId(id))
                    .await?
                    .ok_or_else(|| not_in_queue(id))?;
                Ok((queued_json(&m), queued_text(&m)))
            }
            QueueCommand::Retry { id } => {
                if s.queued_message(QueueId(id)).await?.is_none() {
                    return Err(not_in_queue(id));
                }
                let n = s.retry_now(QueueId(id), self.data.clock.now()).await?;
                Ok((
                    json!({"id": id, "recipients_due": n}),
                    format!(
                        "{n} recipient(s) of message {id} will be tried at the next queue pass"
                    ),
                ))
            }
        }
    }

    pub(super) async fn audit(&self, cmd: AuditCommand) -> Outcome {
        use athen_core::audit::ChainCheck;
        let s = &self.data.store;
        let AuditCommand::Verify { address } = cmd;
        let mailboxes = match &address {
            Some(a) => vec![self.account_by_address(a).await?.mailbox_id],
            None => s.audited_mailboxes().await?,
        };
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        let mut broken = 0;
        for id in mailboxes {
            let owner = match s.mailbox(id).await? {
                Some(m) => s.account(m.account_id).await?.map(|a| a.address),
                None => None,
            }
            .unwrap_or_else(|| format!("mailbox {id}"));
            match athen_mail::audit::verify(s.as_ref(), id)
                .await
                .map_err(|e| CommandError::new(exit::FAILURE, e.to_string()))?
            {
                ChainCheck::Intact { entries, head } => {
                    rows.push(json!({"mailbox": id.0, "account": owner, "intact": true, "entries": entries, "last": head.seq}));
                    lines.push(format!(
                        "{owner}: intact, {entries} entries (up to {})",
                        head.seq
                    ));
                }
                ChainCheck::Broken { seq, reason } => {
                    broken += 1;
                    rows.push(json!({"mailbox": id.0, "account": owner, "intact": false, "first_bad_entry": seq, "reason": reason}));
                    lines.push(format!("{owner}: BROKEN at entry {seq}: {reason}"));
                }
            }
        }
        if broken > 0 {
            return Err(CommandError::new(
                exit::FAILURE,
                format!("{broken} audit trail(s) broken:\n{}", lines.join("\n")),
            ));
        }
        let text = if lines.is_empty() {
            "no audit trails yet".to_string()
        } else {
            lines.join("\n")
        };
        Ok((json!({"trails": rows}), text))
    }

    pub(super) async fn deliver(&self, to: &str, file: Option<PathBuf>) -> Outcome {
        let a = self.account_by_address(to).await?;
        if !a.status.receives_mail() {
            return Err(CommandError::new(
                exit::CONFLICT,
                format!("{} is {} and does not receive mail", a.address, a.status),
            ));
        }
        let limit = self.config.limits.max_message_bytes as usize;
        let mut raw = Zeroizing::new(Vec::new());
        match file {
            Some(p) => {
                raw = Zeroizing::new(std::fs::read(&p).map_err(|e| {
                    CommandError::invalid(format!("cannot read {}: {e}", p.display()))
                })?);
            }
            None => {
                std::io::stdin()
                    .take(limit as u64 + 1)
                    .read_to_end(&mut raw)
                    .map_err(|e| {
                        CommandError::invalid(format!("cannot read standard input: {e}"))
                    })?;
            }
        }
        let s = &self.data.store;
        let mailbox = s
            .mailbox(a.mailbox_id)
            .await?
            .ok_or_else(|| CommandError::new(exit::FAILURE, "the account has no mailbox"))?;
        let id = athen_mail::spool::deliver(
            self.data.blobs.as_ref(),
            s.as_ref(),
            &mailbox,
            &raw,
            limit,
            self.data.clock.now(),
        )
        .await?;
        Ok((
            json!({"spool_id": id.0, "to": a.address, "size": raw.len()}),
            format!("sealed and spooled for {} ({} bytes)", a.address, raw.len()),
        ))
    }
}
