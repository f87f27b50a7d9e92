//! The outbound queue and its delivery worker (whitepaper "Sending Mail
//! Run-Through" step 6).
//!
//! [`Outbound::enqueue`] DKIM-signs a submitted message, encrypts it with
//! the server's queue key and records it with one state per recipient,
//! durably, before the submission gets `250`. The worker ([`Outbound::run`])
//! picks up due recipients, finds their servers ([`route`]), hands the
//! message over with STARTTLS required ([`client`]), retries temporary
//! failures on a schedule, and reports delays, failures and relays to the
//! sender as RFC 3464 reports ([`report`]) in their own mailbox. A message
//! whose recipients are all final is removed with its body.

pub mod client;
pub mod dane;
pub mod mta_sts;
pub mod report;
pub mod route;
pub mod tls_policy;
mod worker;

use crate::dkim::DkimKeys;
use athen_core::clock::Clock;
use athen_core::ids::{MailboxId, QueueId};
use athen_core::queue::*;
use athen_core::store::{BlobStore, MetadataStore};
use mail_auth::MessageAuthenticator;
use route::{Routing, StaticRoute};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tls_policy::TlsTrust;
use zeroize::Zeroizing;

/// Messages delivered at the same time (each may open one connection per
/// recipient domain).
pub const MAX_PARALLEL: usize = 32;

#[derive(Clone, Debug)]
pub struct OutboundConfig {
    pub hostname: String,
    /// The server's mail domain: reports come from MAILER-DAEMON@domain and
    /// are DKIM-signed for it.
    pub domain: String,
    pub routing: Routing,
    pub routes: Vec<StaticRoute>,
    /// Domains the operator allows to receive without TLS (logged loudly).
    pub plaintext_domains: Vec<String>,
    /// Waits between attempts; the last repeats.
    pub retry_intervals: Vec<Duration>,
    /// Give up (and report failure) this long after queuing.
    pub give_up_after: Duration,
    /// Send one "delayed" report when a recipient is still waiting after this.
    pub delay_report_after: Duration,
    /// Where the localserve catch-all keeps mail for other domains.
    pub catch_all_dir: PathBuf,
    /// How often the worker looks for due mail when not woken.
    pub poll_interval: Duration,
    pub timeouts: client::Timeouts,
    pub max_message_bytes: usize,
    /// The port of other domains' MX hosts: 25 (RFC 5321 §4.5.4); another
    /// value only for tests on loopback.
    pub mx_port: u16,
    /// Where MTA-STS policies are fetched: 443 (RFC 8461 §3.3); another
    /// value only for tests on loopback.
    pub mta_sts_port: u16,
    /// Look up TLSA records for DANE (RFC 7672) through these resolvers
    /// (empty: the system's); `None` turns DANE off.
    pub dane_resolvers: Option<Vec<SocketAddr>>,
    /// Trust roots for MTA-STS and smarthost certificates.
    pub trust: TlsTrust,
}

impl OutboundConfig {
    /// RFC 5321 §4.5.4.1 asks for at least 30 minutes between retries and
    /// 4–5 days before giving up; this starts quicker for clinical mail.
    pub fn default_retry_intervals() -> Vec<Duration> {
        [60, 5 * 60, 15 * 60, 30 * 60, 3600, 2 * 3600, 4 * 3600]
            .into_iter()
            .map(Duration::from_secs)
            .collect()
    }
}

pub struct Outbound {
    pub config: OutboundConfig,
    pub store: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue_key: athen_vault::QueueKey,
    pub dkim: Arc<DkimKeys>,
    pub dns: Arc<MessageAuthenticator>,
    pub clock: Arc<dyn Clock>,
    /// Where each attempt's outcome goes (the audit trail, issue 5).
    pub audit: Arc<dyn athen_core::audit::AuditSink>,
    mta_sts: mta_sts::MtaStsCache,
    dane: Option<dane::DaneResolver>,
    wake: tokio::sync::Notify,
    /// Messages being delivered now.
    in_flight: std::sync::Mutex<std::collections::HashSet<QueueId>>,
    parallel: Arc<tokio::sync::Semaphore>,
}

/// A recipient given at submission.
pub struct OutboundRecipient {
    pub address: String,
    pub orcpt: Option<String>,
    pub notify: Notify,
}

/// What the queue works with, besides its configuration.
pub struct OutboundParts {
    pub store: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue_key: athen_vault::QueueKey,
    pub dkim: Arc<DkimKeys>,
    pub dns: Arc<MessageAuthenticator>,
    pub clock: Arc<dyn Clock>,
    pub audit: Arc<dyn athen_core::audit::AuditSink>,
}

impl Outbound {
    pub fn new(config: OutboundConfig, parts: OutboundParts) -> Self {
        let OutboundParts {
            store,
            blobs,
            queue_key,
            dkim,
            dns,
            clock,
            audit,
        } = parts;
        let mta_sts = mta_sts::MtaStsCache::new(
            config.trust.clone(),
            config.mta_sts_port,
            Arc::clone(&store),
        );
        let dane = config
            .dane_resolvers
            .as_deref()
            .map(dane::DaneResolver::new);
        Self {
            config,
            store,
            blobs,
            queue_key,
            dkim,
            dns,
            clock,
            audit,
            mta_sts,
            dane,
            wake: tokio::sync::Notify::new(),
            in_flight: Default::default(),
            parallel: Arc::new(tokio::sync::Semaphore::new(MAX_PARALLEL)),
        }
    }

    /// Sends a delivery report to `on.mail_from`: into the sender's spool
    /// when the sender has a mailbox here (`sender_mailbox`, else looked up
    /// by address), otherwise out through the queue from the null
    /// reverse-path (RFC 5321 §4.5.5), about which no report is ever made.
    #[allow(clippy::too_many_arguments)]
    pub async fn send_report(
        &self,
        action: report::Action,
        on: &report::ReportOn<'_>,
        recipients: &[report::RecipientReport<'_>],
        sender_mailbox: Option<MailboxId>,
        now: athen_core::clock::UnixTime,
        retry_until: Option<athen_core::clock::UnixTime>,
    ) -> Result<(), String> {
        // RFC 3461 §6.1 / RFC 5321 §4.5.5: nothing goes to a null sender.
        if on.mail_from.is_empty() {
            return Ok(());
        }
        let id = athen_mail::random_id().map_err(|e| e.to_string())?;
        let by = report::Reporter {
            hostname: &self.config.hostname,
            domain: &self.config.domain,
        };
        let built = Zeroizing::new(report::build(
            action,
            &by,
            on,
            recipients,
            now,
            retry_until,
            &id,
        ));
        let mailbox_id = match sender_mailbox {
            Some(id) => Some(id),
            None => self
                .store
                .account_by_address(&on.mail_from.to_ascii_lowercase())
                .await
                .map_err(|e| e.to_string())?
                .filter(|a| a.status.receives_mail())
                .map(|a| a.mailbox_id),
        };
        let Some(mailbox_id) = mailbox_id else {
            self.enqueue_from_null(None, on.mail_from, &built).await?;
            tracing::info!(action = ?action, "delivery report queued for the remote sender");
            return Ok(());
        };
        let mailbox = match self.store.mailbox(mailbox_id).await {
            Ok(Some(m)) if m.retired_at.is_none() => m,
            Ok(_) => {
                tracing::warn!("the sender's mailbox is gone; report dropped");
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        };
        let mut bytes = Zeroizing::new(b"Return-Path: <>\r\n".to_vec());
        bytes.extend_from_slice(&built);
        athen_mail::spool::deliver_to_all(
            self.blobs.as_ref(),
            self.store.as_ref(),
            std::slice::from_ref(&mailbox),
            &bytes,
            self.config.max_message_bytes + 64 * 1024,
            now,
        )
        .await
        .map_err(|e| e.to_string())?;
        tracing::info!(action = ?action, "delivery report delivered to the sender");
        Ok(())
    }

    /// Queues automatic mail (a report, a read receipt) for one recipient
    /// from the null reverse-path, never to be reported on (RFC 3461
    /// NOTIFY=NEVER; RFC 5321 §4.5.5).
    async fn enqueue_from_null(
        &self,
        sender_mailbox: Option<MailboxId>,
        to: &str,
        message: &[u8],
    ) -> Result<QueueId, String> {
        let never = Notify {
            never: true,
            success: false,
            failure: false,
            delay: false,
        };
        let recipient = OutboundRecipient {
            address: to.to_string(),
            orcpt: None,
            notify: never,
        };
        self.enqueue(sender_mailbox, "", None, None, vec![recipient], message)
            .await
    }

    /// Signs, encrypts and queues a message durably; wakes the worker.
    pub async fn enqueue(
        &self,
        sender_mailbox: Option<MailboxId>,
        mail_from: &str,
        envid: Option<String>,
        ret: Option<Ret>,
        recipients: Vec<OutboundRecipient>,
        message: &[u8],
    ) -> Result<QueueId, String> {
        let domain = mail_from
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or(&self.config.domain);
        let signature = self.dkim.sign(domain, message)?;
        let mut signed = Zeroizing::new(Vec::with_capacity(signature.len() + message.len()));
        signed.extend_from_slice(signature.as_bytes());
        signed.extend_from_slice(message);
        let key = athen_mail::queue_key().map_err(|e| e.to_string())?;
        let sealed = self
            .queue_key
            .encrypt(&key, &signed)
            .map_err(|e| e.to_string())?;
        self.blobs
            .put(&key, &sealed)
            .await
            .map_err(|e| e.to_string())?;
        let queued = NewQueuedMessage {
            sender_mailbox,
            mail_from: mail_from.to_string(),
            envid,
            ret,
            blob_key: key.clone(),
            size: signed.len() as u64,
            created_at: self.clock.now(),
            recipients: recipients
                .into_iter()
                .map(|r| NewQueuedRecipient {
                    address: r.address,
                    orcpt: r.orcpt,
                    notify: r.notify,
                })
                .collect(),
        };
        match self.store.enqueue(queued).await {
            Ok(id) => {
                self.wake.notify_one();
                Ok(id)
            }
            Err(e) => {
                let _ = self.blobs.delete(&key).await;
                Err(e.to_string())
            }
        }
    }

    /// The delivery worker: runs until `shutdown` resolves.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.start_due().await {
                tracing::error!(error = %e, "outbound queue pass failed");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Starts every due message that is not already being delivered, each
    /// on its own task (at most [`MAX_PARALLEL`] at once), and returns at
    /// once: a slow remote server holds up only its own messages. A message
    /// in flight is never started twice.
    pub async fn start_due(self: &Arc<Self>) -> Result<usize, String> {
        let now = self.clock.now();
        let busy = self.in_flight.lock().map(|s| s.len()).unwrap_or(0);
        let due = self
            .store
            .due_messages(now, (100 + busy) as u32)
            .await
            .map_err(|e| e.to_string())?;
        let mut started = 0;
        for msg in due {
            let fresh = self
                .in_flight
                .lock()
                .map(|mut s| s.insert(msg.id))
                .unwrap_or(false);
            if !fresh {
                continue;
            }
            let Ok(permit) = Arc::clone(&self.parallel).try_acquire_owned() else {
                self.finished(msg.id);
                break;
            };
            started += 1;
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let id = msg.id;
                let result = this.process(msg).await;
                this.finished(id);
                drop(permit);
                match result {
                    // Reports it queued may already be due.
                    Ok(()) => this.wake.notify_one(),
                    // Left for the next poll, so a failing store is not
                    // hammered in a loop.
                    Err(e) => {
                        tracing::error!(queue_id = %id, error = %e, "outbound delivery failed")
                    }
                }
            });
        }
        Ok(started)
    }

    fn finished(&self, id: QueueId) {
        if let Ok(mut s) = self.in_flight.lock() {
            s.remove(&id);
        }
    }
}

#[async_trait::async_trait]
impl athen_core::queue::AutomaticMail for Outbound {
    async fn queue_automatic(
        &self,
        sender_mailbox: MailboxId,
        to: &str,
        message: &[u8],
    ) -> Result<QueueId, String> {
        self.enqueue_from_null(Some(sender_mailbox), to, message)
            .await
    }
}
