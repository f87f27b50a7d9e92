//! Moving spooled mail into the mailbox store once the mailbox is unlocked.
//!
//! Order of steps, chosen so that a crash at any point neither loses nor
//! duplicates a message:
//!
//! 1. open the sealed spool blob (in memory);
//! 2. write the message re-encrypted with the data key under a new blob key;
//! 3. in one transaction, delete the spool row, add the message row and
//!    the "received" entry of the audit trail;
//! 4. delete the spool blob.
//!
//! Before the spool, the audit events kept while the mailbox was locked
//! are merged into its trail (one transaction: merged and removed, or
//! neither).
//!
//! Receipts (DSN, MDN) for mail this mailbox sent are matched to it by
//! envelope id or Message-ID and go into the trail instead: a report of
//! success or delay is consumed (spool row removed and trail entries added
//! in one transaction; no message is stored), a report of failure is
//! stored in the Inbox as well, so the sender sees it. A report that
//! matches nothing sent from here is ordinary mail.
//!
//! Ordinary mail is converted for the clinical system when the mailbox
//! has delivery formats ([`crate::conversion`]): the import file is
//! attached and the trail says "converted", or why it was not possible.
//!
//! A crash before 3 leaves the spool entry (it is unspooled again later; the
//! blob from 2 is an unreferenced, encrypted orphan). A crash after 3 leaves
//! only an orphaned sealed blob. Neither is ever visible as mail.

use crate::audit::{EventKind, TrailEvent, TrailItem};
use crate::conversion::{self, ConversionSetup, Converted, PatientRegister, RunNumbers};
use crate::meta;
use crate::receipts::{self, Receipt};
use crate::{MailError, mail_key};
use athen_core::audit::{AuditAnchor, ChainHash};
use athen_core::mailbox::SpoolEntry;
use athen_core::mailbox::{NewStoredMessage, SpecialFolder};
use athen_core::store::{AuditStore, BlobStore, MailboxStore, SpoolStore};
use athen_core::{FolderId, MailboxId, SpoolId, StoreError};
use athen_vault::seal::{encrypt_stored, open_sealed};
use athen_vault::{MailboxSecret, VaultError};
use std::collections::{HashMap, HashSet};

/// What one run of the unspooler did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnspoolReport {
    pub moved: usize,
    /// Audit events kept while the mailbox was locked, now in its trail.
    pub audit_merged: usize,
    /// Receipts for sent mail that went into the trail only.
    pub receipts_consumed: usize,
    /// Failure reports that went into the trail and the Inbox (counted in
    /// `moved` too).
    pub failures_shown: usize,
    /// Letters with an import file attached, and letters that could not
    /// be converted (delivered unchanged).
    pub converted: usize,
    pub not_converted: usize,
    /// Spool entries that could not be opened (damaged or truncated). They
    /// are left in the spool, untouched, for the administrator to look at.
    pub damaged: Vec<SpoolId>,
}

/// In which order waiting mail is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    Arrival,
    /// The newest `page` letters first, so the first page of the Inbox is
    /// there at once, then the rest oldest first. Receipts among the newest
    /// wait for the second pass, which keeps them in order of arrival. The
    /// newest letters get the lower UIDs (UIDs only promise to grow in the
    /// order messages are filed, RFC 9051 §2.3.1.1).
    NewestPageFirst { page: usize },
}

/// One mailbox's unspooling: what it needs, borrowed for one run.
pub struct Unspooler<'a> {
    pub blobs: &'a dyn BlobStore,
    pub spool: &'a dyn SpoolStore,
    pub store: &'a dyn MailboxStore,
    pub audit: &'a dyn AuditStore,
    pub mailbox: MailboxId,
    pub secret: &'a MailboxSecret,
    pub setup: &'a ConversionSetup,
    /// Asked before each entry: once false (the mailbox is being locked),
    /// the run stops and the rest waits in the spool.
    pub still_open: &'a (dyn Fn() -> bool + Sync),
    /// Kept between runs by a caller that runs often; `None`: every run
    /// reads the whole trail.
    pub trail_cache: Option<&'a TrailCache>,
}

/// What happened to one spool entry.
enum Step {
    Done,
    /// A receipt met in the first pass, left for the second.
    Deferred,
}

/// Unspools every waiting message of a mailbox into its Inbox, oldest
/// first.
pub async fn unspool_mailbox(
    blobs: &dyn BlobStore,
    spool: &dyn SpoolStore,
    store: &dyn MailboxStore,
    audit: &dyn AuditStore,
    mailbox: MailboxId,
    secret: &MailboxSecret,
    setup: &ConversionSetup,
) -> Result<UnspoolReport, MailError> {
    Unspooler {
        blobs,
        spool,
        store,
        audit,
        mailbox,
        secret,
        setup,
        still_open: &|| true,
        trail_cache: None,
    }
    .run(Order::Arrival, |_, _| {})
    .await
}

impl<'a> Unspooler<'a> {
    /// Unspools every waiting message in `order`. `first_page` is called
    /// once, when the newest page is in, with how many entries are left
    /// (for [`Order::Arrival`], after the whole run).
    pub async fn run(
        &self,
        order: Order,
        first_page: impl FnMut(&UnspoolReport, usize),
    ) -> Result<UnspoolReport, MailError> {
        // What this mailbox sent (for matching receipts) and the run numbers
        // of earlier conversions: the trail is read once, when first needed.
        let mut known: Option<Known<'a>> = None;
        let report = self.passes(order, first_page, &mut known).await?;
        // Kept for the next run only after a run that went well: after a
        // failure the next run reads the whole trail again.
        if let (Some(cache), Some((sent, runs, _, head))) = (self.trail_cache, known) {
            *lock_cache(cache) = Some(CachedTrail { head, sent, runs });
        }
        Ok(report)
    }

    async fn passes(
        &self,
        order: Order,
        mut first_page: impl FnMut(&UnspoolReport, usize),
        known: &mut Option<Known<'a>>,
    ) -> Result<UnspoolReport, MailError> {
        let inbox = self
            .store
            .folders(self.mailbox)
            .await?
            .into_iter()
            .find(|f| f.name == SpecialFolder::Inbox.name())
            .ok_or_else(|| StoreError::Corrupt(format!("mailbox {} has no Inbox", self.mailbox)))?;
        // The spool is listed before the pending events are merged: the queue
        // records an attempt's event before it sends the report about it, so
        // every report listed here finds its own event in the trail (and is
        // recorded once), however the two race with this unspool.
        let mut entries = self.spool.spool_entries(self.mailbox).await?;
        let mut report = UnspoolReport {
            audit_merged: crate::audit::merge_pending(self.audit, self.mailbox, self.secret)
                .await?,
            ..UnspoolReport::default()
        };
        if let Order::NewestPageFirst { page } = order
            && entries.len() > page
        {
            let newest = entries.split_off(entries.len() - page);
            let mut deferred = Vec::new();
            for entry in newest {
                if !(self.still_open)() {
                    return Ok(report);
                }
                if let Step::Deferred = self
                    .entry(&entry, inbox.id, known, &mut report, false)
                    .await?
                {
                    deferred.push(entry);
                }
            }
            entries.extend(deferred);
            first_page(&report, entries.len());
            for entry in entries {
                if !(self.still_open)() {
                    return Ok(report);
                }
                self.entry(&entry, inbox.id, known, &mut report, true)
                    .await?;
            }
            return Ok(report);
        }
        for entry in entries {
            if !(self.still_open)() {
                return Ok(report);
            }
            self.entry(&entry, inbox.id, known, &mut report, true)
                .await?;
        }
        first_page(&report, 0);
        Ok(report)
    }

    /// Unspools one entry; a receipt only when `receipts` (else deferred).
    async fn entry(
        &self,
        entry: &SpoolEntry,
        inbox: FolderId,
        known: &mut Option<Known<'a>>,
        report: &mut UnspoolReport,
        receipts: bool,
    ) -> Result<Step, MailError> {
        let (blobs, spool, mailbox, secret, setup) = (
            self.blobs,
            self.spool,
            self.mailbox,
            self.secret,
            self.setup,
        );
        let sealed = match blobs.get(&entry.blob_key).await {
            Ok(b) => b,
            Err(StoreError::NotFound(_)) => {
                tracing::error!(spool = %entry.id, "spool entry has no blob");
                report.damaged.push(entry.id);
                return Ok(Step::Done);
            }
            Err(e) => return Err(e.into()),
        };
        let raw = match open_sealed(secret, &sealed) {
            Ok(r) => r,
            Err(VaultError::Corrupt(why)) => {
                tracing::error!(spool = %entry.id, why, "spool entry cannot be opened; left in place");
                report.damaged.push(entry.id);
                return Ok(Step::Done);
            }
            Err(e) => return Err(e.into()),
        };
        // Set for a failure report about mail sent from here: stored and
        // shown, recorded as the failure (not as "received"), never
        // converted.
        let mut receipt_events: Option<Vec<TrailEvent>> = None;
        if let Some(receipt) = receipts::parse(&raw) {
            if !receipts {
                return Ok(Step::Deferred);
            }
            if known.is_none() {
                *known = Some(self.load_known().await?);
            }
            if let Some((index, ..)) = known.as_mut()
                && let Some(events) = index.events_for(&receipt)
            {
                if !receipt.reports_failure() {
                    let at = entry.received_at;
                    let times = vec![at; events.len()];
                    let seal = |i: usize, seq: u64, prev: &ChainHash| {
                        crate::audit::seal_entry(secret, mailbox, (seq, at, prev), &events[i])
                    };
                    match spool
                        .consume_spool_entry(entry.id, mailbox, &times, &seal)
                        .await
                    {
                        Ok(()) => {}
                        Err(StoreError::NotFound(_)) => return Ok(taken_by_another(entry)),
                        Err(e) => return Err(e.into()),
                    }
                    if let Err(e) = blobs.delete(&entry.blob_key).await {
                        tracing::warn!(spool = %entry.id, error = %e, "sealed blob left behind after a receipt");
                    }
                    report.receipts_consumed += 1;
                    return Ok(Step::Done);
                }
                report.failures_shown += 1;
                receipt_events = Some(events);
            }
        }
        // The list fields; conversion changes no header they come from.
        let mut meta = meta::extract(&raw);
        let mut converted = None;
        let mut raw = raw;
        if receipt_events.is_none() && !setup.formats.is_empty() {
            if known.is_none() {
                *known = Some(self.load_known().await?);
            }
            let sender = meta
                .from
                .first()
                .cloned()
                .unwrap_or_else(|| "unknown sender".into());
            let control = format!("A{}S{}", mailbox.0, entry.id.0);
            if let Some((_, runs, patients, _)) = known.as_mut() {
                // Defence in depth: conversion runs readers and a PDF
                // writer over content from anyone. Should any of them
                // panic, the letter is delivered unconverted rather than
                // left in the spool to fail again at every unlock.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    conversion::convert_message(
                        setup,
                        runs,
                        patients,
                        &raw,
                        &sender,
                        entry.received_at,
                        &control,
                    )
                }))
                .unwrap_or_else(|_| {
                    tracing::error!(spool = %entry.id, "conversion failed unexpectedly; letter delivered unconverted");
                    Converted::NotPossible {
                        event: TrailEvent {
                            correspondent: Some(sender.clone()),
                            detail: Some(
                                "not possible, because the letter could not be read (an internal error, logged)"
                                    .into(),
                            ),
                            ..TrailEvent::new(EventKind::Converted)
                        },
                    }
                });
                // Patients new to the register are stored first: a crash
                // before the letter is filed finds them there next time.
                let added = patients.take_added();
                if !added.is_empty() {
                    self.store.add_patients(mailbox, &added).await?;
                }
                match outcome {
                    Converted::Attached {
                        raw: with_file,
                        file,
                        event,
                    } => {
                        raw = zeroize::Zeroizing::new(with_file);
                        meta.import_file = Some(file);
                        report.converted += 1;
                        converted = Some(event);
                    }
                    Converted::NotPossible { event } => {
                        report.not_converted += 1;
                        converted = Some(event);
                    }
                }
            }
        }
        let key = mail_key(mailbox)?;
        let meta_json = zeroize::Zeroizing::new(
            serde_json::to_vec(&meta)
                .map_err(|e| StoreError::Io(format!("encode metadata: {e}")))?,
        );
        blobs
            .put(&key, &encrypt_stored(secret, "body", &key, &raw)?)
            .await?;
        // A failure report is recorded as the failure it reports; any
        // other message as received.
        let events = if let Some(events) = receipt_events {
            events
        } else {
            let received = TrailEvent {
                message_id: meta.message_id.clone(),
                correspondent: meta.from.first().cloned(),
                ..TrailEvent::new(EventKind::Received)
            };
            let converted = converted.map(|c| TrailEvent {
                message_id: meta.message_id.clone(),
                ..c
            });
            std::iter::once(received).chain(converted).collect()
        };
        let at = entry.received_at;
        let times = vec![at; events.len()];
        let seal = |i: usize, seq: u64, prev: &ChainHash| {
            crate::audit::seal_entry(secret, mailbox, (seq, at, prev), &events[i])
        };
        let stored = spool
            .unspool(
                entry.id,
                NewStoredMessage {
                    mailbox_id: mailbox,
                    folder_id: inbox,
                    size: raw.len() as u64,
                    received_at: entry.received_at,
                    flags: 0,
                    sealed_meta: encrypt_stored(secret, "meta", &key, &meta_json)?,
                    blob_key: key.clone(),
                    import_file: meta.import_file.is_some(),
                },
                &times,
                &seal,
            )
            .await;
        match stored {
            Ok(_) => {}
            Err(StoreError::NotFound(_)) => {
                let _ = blobs.delete(&key).await;
                return Ok(taken_by_another(entry));
            }
            Err(e) => return Err(e.into()),
        }
        if let Err(e) = blobs.delete(&entry.blob_key).await {
            tracing::warn!(spool = %entry.id, error = %e, "sealed blob left behind after unspool");
        }
        report.moved += 1;
        Ok(Step::Done)
    }
}

/// Another unspooler of the same mailbox (a second front door, or the
/// `athen mailbox` command beside the server) moved this entry first; its
/// transaction did the work, ours was rolled back.
fn taken_by_another(entry: &SpoolEntry) -> Step {
    tracing::debug!(spool = %entry.id, "spool entry already unspooled by another run");
    Step::Done
}

/// What receipt matching and conversion need from the trail and the
/// patient register, read once per run, and the trail's head when read.
type Known<'a> = (SentIndex, RunNumbers, PatientRegister<'a>, AuditAnchor);

/// What runs learnt from the trail, kept between runs by a caller that
/// runs again and again (an open mailbox's worker), so that the next run
/// reads, checks and decrypts only the entries added since rather than
/// the whole trail.
#[derive(Default)]
pub struct TrailCache(std::sync::Mutex<Option<CachedTrail>>);

struct CachedTrail {
    head: AuditAnchor,
    sent: SentIndex,
    runs: RunNumbers,
}

fn lock_cache(c: &TrailCache) -> std::sync::MutexGuard<'_, Option<CachedTrail>> {
    c.0.lock().unwrap_or_else(|p| p.into_inner())
}

impl<'a> Unspooler<'a> {
    async fn load_known(&self) -> Result<Known<'a>, MailError> {
        let (audit, mailbox, secret) = (self.audit, self.mailbox, self.secret);
        let cached = self.trail_cache.and_then(|c| lock_cache(c).take());
        let caught_up = match cached {
            Some(mut c) => crate::audit::trail_after(audit, mailbox, secret, c.head)
                .await?
                .map(|(items, head)| {
                    c.sent.add(&items);
                    c.runs.add(&items);
                    (c.sent, c.runs, head)
                }),
            None => None,
        };
        let (sent, runs, head) = match caught_up {
            Some(known) => known,
            None => {
                let (items, head) = crate::audit::trail_with_head(audit, mailbox, secret).await?;
                (SentIndex::new(&items), RunNumbers::from_trail(&items), head)
            }
        };
        let patients = PatientRegister::new(secret, self.store.patient_register(mailbox).await?);
        Ok((sent, runs, patients, head))
    }
}

/// The mail a mailbox sent, as its trail knows it, and the receipt events
/// already recorded (a report is recorded once, however often it comes).
struct SentIndex {
    /// envelope id → Message-ID, and Message-ID → envelope id.
    by_envid: HashMap<String, Option<String>>,
    by_message_id: HashMap<String, Option<String>>,
    recorded: HashSet<(EventKind, String, String)>,
}

impl SentIndex {
    fn new(trail: &[TrailItem]) -> SentIndex {
        let mut index = SentIndex {
            by_envid: HashMap::new(),
            by_message_id: HashMap::new(),
            recorded: HashSet::new(),
        };
        index.add(trail);
        index
    }

    /// Learns from more of the trail (entries seen before change nothing).
    fn add(&mut self, trail: &[TrailItem]) {
        let index = self;
        for item in trail {
            let e = &item.event;
            if e.kind == Some(EventKind::Submitted) {
                if let Some(envid) = &e.envid {
                    index.by_envid.insert(envid.clone(), e.message_id.clone());
                }
                if let Some(id) = &e.message_id {
                    index.by_message_id.insert(id.clone(), e.envid.clone());
                }
            } else if matches!(
                e.kind,
                Some(
                    EventKind::Queued | EventKind::Relayed | EventKind::Delayed | EventKind::Failed
                )
            ) && let Some(envid) = &e.envid
            {
                // An attempt of this mailbox's own queue proves the message
                // was sent from here, even before its submission is merged.
                index.by_envid.entry(envid.clone()).or_insert(None);
            }
            if let Some(key) = Self::key(e) {
                index.recorded.insert(key);
            }
        }
    }

    /// What a receipt adds to the trail: `None` if it is not about mail
    /// sent from here; possibly empty if all of it is recorded already.
    fn events_for(&mut self, receipt: &Receipt) -> Option<Vec<TrailEvent>> {
        let (envid, message_id) = match receipt.keys() {
            (Some(envid), _) if self.by_envid.contains_key(envid) => (
                Some(envid.to_string()),
                self.by_envid.get(envid).cloned().flatten(),
            ),
            (_, Some(id)) if self.by_message_id.contains_key(id) => (
                self.by_message_id.get(id).cloned().flatten(),
                Some(id.to_string()),
            ),
            _ => return None,
        };
        let events = receipt
            .events(envid.as_deref(), message_id.as_deref())
            .into_iter()
            .filter(|e| Self::key(e).is_none_or(|k| self.recorded.insert(k)))
            .collect();
        Some(events)
    }

    /// Receipt events of the same kind, message and recipient are one.
    fn key(e: &TrailEvent) -> Option<(EventKind, String, String)> {
        let kind = e.kind?;
        if matches!(kind, EventKind::Submitted | EventKind::Received) {
            return None;
        }
        let about = e.envid.clone().or_else(|| e.message_id.clone())?;
        let who = e
            .correspondent
            .clone()
            .unwrap_or_default()
            .to_ascii_lowercase();
        Some((kind, about, who))
    }
}
