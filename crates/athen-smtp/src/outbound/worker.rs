//! One delivery pass over one queued message: route, hand over, schedule
//! retries, report to the sender, and clean up.

use super::Outbound;
use super::client::{self, Envelope, RecipientOutcome};
use super::report::{self, Action};
use super::route::{self, Destination};
use athen_core::audit::{AttemptResult, DeliveryEvent};
use athen_core::clock::UnixTime;
use athen_core::ids::QueueRecipientId;
use athen_core::queue::*;
use std::collections::{BTreeMap, HashSet};

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Outbound {
    pub(crate) async fn process(&self, msg: QueuedMessage) -> Result<(), String> {
        let now = self.clock.now();
        let body = match self.blobs.get(&msg.blob_key).await {
            Ok(sealed) => match self.queue_key.decrypt(&msg.blob_key, &sealed) {
                Ok(body) => Some(body),
                Err(e) => {
                    tracing::error!(queue_id = %msg.id, error = %e, "queued message cannot be opened");
                    None
                }
            },
            Err(athen_core::StoreError::NotFound(_)) => None,
            // A passing storage problem: try again on the next pass.
            Err(e) => return Err(format!("reading queued message {}: {e}", msg.id)),
        };
        let due: Vec<&QueuedRecipient> = msg
            .recipients
            .iter()
            .filter(|r| r.state == RecipientState::Queued && r.next_attempt_at <= now)
            .collect();
        let mut outcomes = Vec::new();
        let mut passed_on: HashSet<QueueRecipientId> = HashSet::new();
        match &body {
            None => {
                for r in &due {
                    outcomes.push(self.schedule(
                        &msg,
                        r,
                        false,
                        "the queued copy of the message is missing or damaged".into(),
                        None,
                        None,
                        now,
                    ));
                }
            }
            Some(body) => {
                let mut by_domain: BTreeMap<&str, Vec<&QueuedRecipient>> = BTreeMap::new();
                for r in &due {
                    by_domain.entry(r.domain.as_str()).or_default().push(r);
                }
                for (domain, recipients) in by_domain {
                    self.deliver_domain(
                        &msg,
                        domain,
                        &recipients,
                        body,
                        now,
                        &mut outcomes,
                        &mut passed_on,
                    )
                    .await;
                }
            }
        }
        self.store
            .record_attempts(&outcomes, now)
            .await
            .map_err(|e| e.to_string())?;
        for o in &outcomes {
            let Some(r) = msg.recipients.iter().find(|r| r.id == o.recipient) else {
                continue;
            };
            let outcome = match o.state {
                RecipientState::Relayed => AttemptResult::Relayed,
                RecipientState::Queued => AttemptResult::Deferred,
                RecipientState::Failed => AttemptResult::Failed,
            };
            self.audit
                .record(DeliveryEvent::Attempted {
                    sender: msg.sender_mailbox,
                    envid: msg.envid.clone(),
                    queue_id: msg.id,
                    recipient: r.address.clone(),
                    outcome,
                    reply: o.reply.clone(),
                    remote_host: o.remote_host.clone(),
                    tls: o.tls.clone(),
                })
                .await;
        }
        let Some(fresh) = self
            .store
            .queued_message(msg.id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        let original: &[u8] = body.as_deref().map(|b| b.as_slice()).unwrap_or(b"");
        self.report(&fresh, original, &passed_on, now).await?;
        if let Some(key) = self
            .store
            .remove_finished(msg.id)
            .await
            .map_err(|e| e.to_string())?
            && let Err(e) = self.blobs.delete(&key).await
        {
            tracing::warn!(error = %e, "could not delete a delivered message's queued copy");
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn deliver_domain(
        &self,
        msg: &QueuedMessage,
        domain: &str,
        recipients: &[&QueuedRecipient],
        body: &[u8],
        now: UnixTime,
        outcomes: &mut Vec<AttemptOutcome>,
        passed_on: &mut HashSet<QueueRecipientId>,
    ) {
        let lookups = route::Lookups {
            dns: &self.dns,
            mta_sts: &self.mta_sts,
            dane: self.dane.as_ref(),
            now,
        };
        let destination = route::resolve(domain, &self.config, &lookups).await;
        let targets = match destination {
            Err(f) => {
                for r in recipients {
                    outcomes.push(self.schedule(
                        msg,
                        r,
                        f.temporary,
                        f.reason.clone(),
                        None,
                        None,
                        now,
                    ));
                }
                return;
            }
            Ok(Destination::CatchAll) => {
                let result = self.keep_in_catch_all(msg, domain, body).await;
                for r in recipients {
                    outcomes.push(match &result {
                        Ok(path) => AttemptOutcome {
                            recipient: r.id,
                            state: RecipientState::Relayed,
                            next_attempt_at: now,
                            reply: format!(
                                "kept in the local catch-all {path} (localserve never sends mail to other servers)"
                            ),
                            remote_host: Some("local catch-all".into()),
                            tls: None,
                        },
                        Err(e) => self.schedule(msg, r, true, e.clone(), None, None, now),
                    });
                }
                return;
            }
            Ok(Destination::Hosts(targets)) => targets,
        };
        let envelope = Envelope {
            hostname: &self.config.hostname,
            mail_from: &msg.mail_from,
            envid: msg.envid.as_deref(),
            ret: msg.ret,
            recipients: recipients
                .iter()
                .map(|r| (r.address.as_str(), r.orcpt.as_deref(), r.notify))
                .collect(),
            body,
        };
        let mut last_failure = None;
        // RFC 5321 §5.1: try the hosts in order until one takes the session.
        for target in &targets {
            match client::deliver(target, &envelope, &self.config.trust, &self.config.timeouts)
                .await
            {
                Ok(done) => {
                    for (r, o) in recipients.iter().zip(done.outcomes) {
                        outcomes.push(match o {
                            RecipientOutcome::Accepted(reply) => {
                                if done.dsn_passed_on {
                                    passed_on.insert(r.id);
                                }
                                tracing::info!(queue_id = %msg.id, host = %target.host, "relayed");
                                AttemptOutcome {
                                    recipient: r.id,
                                    state: RecipientState::Relayed,
                                    next_attempt_at: now,
                                    reply: format!(
                                        "relayed to {}: {}",
                                        target.host,
                                        reply.summary()
                                    ),
                                    remote_host: Some(target.host.clone()),
                                    tls: Some(done.tls.clone()),
                                }
                            }
                            RecipientOutcome::Temporary(why) => self.schedule(
                                msg,
                                r,
                                true,
                                why,
                                Some(target.host.clone()),
                                Some(done.tls.clone()),
                                now,
                            ),
                            RecipientOutcome::Permanent(why) => self.schedule(
                                msg,
                                r,
                                false,
                                why,
                                Some(target.host.clone()),
                                Some(done.tls.clone()),
                                now,
                            ),
                        });
                    }
                    return;
                }
                Err(f) => {
                    tracing::info!(queue_id = %msg.id, host = %target.host, reason = %f.reason, "delivery attempt failed");
                    last_failure = Some((target.host.clone(), f));
                }
            }
        }
        let (host, f) = last_failure.unwrap_or_else(|| {
            (
                domain.to_string(),
                client::SessionFailure {
                    temporary: true,
                    reason: format!("no server to try for {domain}"),
                },
            )
        });
        for r in recipients {
            outcomes.push(self.schedule(
                msg,
                r,
                f.temporary,
                f.reason.clone(),
                Some(host.clone()),
                None,
                now,
            ));
        }
    }

    /// The next state of a recipient that was not accepted.
    #[allow(clippy::too_many_arguments)]
    fn schedule(
        &self,
        msg: &QueuedMessage,
        r: &QueuedRecipient,
        temporary: bool,
        reason: String,
        remote_host: Option<String>,
        tls: Option<String>,
        now: UnixTime,
    ) -> AttemptOutcome {
        let expired = now.saturating_sub(msg.created_at) >= secs(self.config.give_up_after);
        let (state, next, reply) = if !temporary {
            (RecipientState::Failed, now, reason)
        } else if expired {
            (
                RecipientState::Failed,
                now,
                format!(
                    "gave up after {} hours; last error: {reason}",
                    self.config.give_up_after.as_secs() / 3600
                ),
            )
        } else {
            let intervals = &self.config.retry_intervals;
            let wait = intervals
                .get(r.attempts as usize)
                .or(intervals.last())
                .copied()
                .unwrap_or(std::time::Duration::from_secs(600));
            (RecipientState::Queued, now + secs(wait), reason)
        };
        AttemptOutcome {
            recipient: r.id,
            state,
            next_attempt_at: next,
            reply,
            remote_host,
            tls,
        }
    }

    /// Sends the reports now due for `msg` and marks what was handled.
    async fn report(
        &self,
        msg: &QueuedMessage,
        original: &[u8],
        passed_on: &HashSet<QueueRecipientId>,
        now: UnixTime,
    ) -> Result<(), String> {
        let wants = |r: &QueuedRecipient| !r.notify.never && !msg.mail_from.is_empty();
        let finished: Vec<&QueuedRecipient> = msg
            .recipients
            .iter()
            .filter(|r| r.state != RecipientState::Queued && !r.reported)
            .collect();
        let failed: Vec<&QueuedRecipient> = finished
            .iter()
            .copied()
            .filter(|r| r.state == RecipientState::Failed && r.notify.failure && wants(r))
            .collect();
        // RFC 3461 §6.2.1: a relay to a server without DSN support reports
        // "relayed" if success was asked for.
        let relayed: Vec<&QueuedRecipient> = finished
            .iter()
            .copied()
            .filter(|r| {
                r.state == RecipientState::Relayed
                    && r.notify.success
                    && wants(r)
                    && !passed_on.contains(&r.id)
            })
            .collect();
        let delay_due = !msg.delay_reported
            && now.saturating_sub(msg.created_at) >= secs(self.config.delay_report_after);
        let waiting: Vec<&QueuedRecipient> = if delay_due {
            msg.recipients
                .iter()
                .filter(|r| r.state == RecipientState::Queued && r.notify.delay && wants(r))
                .collect()
        } else {
            Vec::new()
        };
        if !failed.is_empty() {
            self.report_queued(msg, Action::Failed, &failed, original, now, None)
                .await?;
        }
        if !relayed.is_empty() {
            self.report_queued(msg, Action::Relayed, &relayed, original, now, None)
                .await?;
        }
        if !waiting.is_empty() {
            let until = msg.created_at + secs(self.config.give_up_after);
            self.report_queued(msg, Action::Delayed, &waiting, original, now, Some(until))
                .await?;
        }
        let ids: Vec<QueueRecipientId> = finished.iter().map(|r| r.id).collect();
        if !ids.is_empty() || delay_due {
            self.store
                .mark_reported(msg.id, &ids, delay_due)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Seals a report into the sender's mailbox (its spool), as incoming
    /// mail from the null sender.
    #[allow(clippy::too_many_arguments)]
    async fn report_queued(
        &self,
        msg: &QueuedMessage,
        action: Action,
        recipients: &[&QueuedRecipient],
        original: &[u8],
        now: UnixTime,
        retry_until: Option<UnixTime>,
    ) -> Result<(), String> {
        let on = report::ReportOn::queued(msg, original);
        let recipients: Vec<report::RecipientReport<'_>> =
            recipients.iter().map(|r| (*r).into()).collect();
        self.send_report(
            action,
            &on,
            &recipients,
            msg.sender_mailbox,
            now,
            retry_until,
        )
        .await
        .inspect(|_| tracing::debug!(queue_id = %msg.id, "report made"))
    }

    /// localserve: writes the message where the administrator can read it,
    /// readable by the server's user only.
    async fn keep_in_catch_all(
        &self,
        msg: &QueuedMessage,
        domain: &str,
        body: &[u8],
    ) -> Result<String, String> {
        let dir = self.config.catch_all_dir.clone();
        let safe_domain: String = domain
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            .collect();
        let path = dir.join(format!("{}-{safe_domain}.eml", msg.id));
        let body = body.to_vec();
        let shown = path.display().to_string();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            std::fs::create_dir_all(&dir)?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&path)?;
            f.write_all(&body)?;
            f.sync_all()
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot write to the catch-all: {e}"))?;
        Ok(shown)
    }
}
