//! Open mailboxes: unspooling while a mailbox stays unlocked.
//!
//! A front door (the API, the web app, IMAP) that unlocks a mailbox calls
//! [`LiveMail::opened`]. One worker task per open mailbox then unspools
//! what waits, the newest page of the Inbox first (so that page can be
//! shown within a second of log-in while the rest follows), and after that
//! whatever arrives while the mailbox stays unlocked: the store tells it of
//! every spool commit in this process ([`SpoolListener`]), and it looks
//! again every [`POLL`] for mail spooled by another process and for
//! delivery events of the queue.
//!
//! Sessions watch the mailbox's [`MailboxState`] to learn of new mail
//! (a web page waiting for changes, IMAP IDLE).
//!
//! The worker holds the mailbox secret only weakly between runs, and stops
//! a run between two messages once it is the last holder: when the last
//! session ends and the vault drops the secret, unspooling stops and the
//! worker ends, so logging out really locks the mailbox.

use crate::MailError;
use crate::conversion::ConversionSetup;
use crate::status::LetterStatuses;
use crate::unspool::{Order, TrailCache, UnspoolReport, Unspooler};
use athen_core::MailboxId;
use athen_core::account::Account;
use athen_core::store::{BlobStore, MetadataStore, SpoolListener};
use athen_vault::MailboxSecret;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// How often an open mailbox looks for mail and events that no spool
/// commit in this process announced, and whether it is still open.
pub const POLL: Duration = Duration::from_secs(2);

/// What sessions of an open mailbox can watch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailboxState {
    /// Grows whenever mail was filed or the audit trail grew.
    pub generation: u64,
    /// The newest page of the Inbox is unspooled (the first run's first
    /// pass is over, or it failed).
    pub first_page_ready: bool,
    /// Spool entries still waiting, as last counted.
    pub waiting: u64,
    /// Why the last run failed, if it did (the next wake tries again).
    pub error: Option<String>,
}

/// What the workers need.
pub struct LiveParts {
    pub store: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
}

struct Worker {
    id: u64,
    secret: Arc<Mutex<Weak<MailboxSecret>>>,
    wake: Arc<Notify>,
    state: watch::Sender<MailboxState>,
    /// The folder lists' status column, kept up to date from the trail by
    /// whoever asks; it holds decrypted facts, so it goes with the worker.
    statuses: Arc<tokio::sync::Mutex<LetterStatuses>>,
}

/// Every open mailbox of this server process.
pub struct LiveMail {
    parts: LiveParts,
    /// How many of the newest letters the first run unspools first.
    first_page: usize,
    workers: Mutex<HashMap<MailboxId, Worker>>,
    next_id: AtomicU64,
    /// One letter opened at a time per mailbox (see [`LiveMail::opening`]).
    openings: Mutex<HashMap<MailboxId, Weak<tokio::sync::Mutex<()>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every update under these locks is a single insert, remove or swap.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LiveMail {
    pub fn new(parts: LiveParts, first_page: usize) -> Arc<LiveMail> {
        Arc::new(LiveMail {
            parts,
            first_page: first_page.max(1),
            workers: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            openings: Mutex::new(HashMap::new()),
        })
    }

    /// A session unlocked `account`'s mailbox: start (or wake) its worker.
    /// Returns the state to watch.
    pub fn opened(
        self: &Arc<Self>,
        account: &Account,
        secret: &Arc<MailboxSecret>,
    ) -> watch::Receiver<MailboxState> {
        let mailbox = account.mailbox_id;
        let mut workers = lock(&self.workers);
        if let Some(w) = workers.get(&mailbox) {
            let mut held = lock(&w.secret);
            if held.strong_count() == 0 {
                // Locked meanwhile, and its worker not yet gone: it takes
                // the new unlock and looks at once. What it counted before
                // is old news until then (mail may have come while locked).
                *held = Arc::downgrade(secret);
                w.state.send_modify(|s| s.first_page_ready = false);
                w.wake.notify_one();
            }
            return w.state.subscribe();
        }
        let (state, rx) = watch::channel(MailboxState::default());
        let worker = Worker {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            secret: Arc::new(Mutex::new(Arc::downgrade(secret))),
            wake: Arc::new(Notify::new()),
            state,
            statuses: Arc::default(),
        };
        tokio::spawn(self.clone().work(
            worker.id,
            account.clone(),
            worker.secret.clone(),
            worker.wake.clone(),
            worker.state.clone(),
        ));
        workers.insert(mailbox, worker);
        rx
    }

    /// Makes an open mailbox look at once (new mail, or it may have been
    /// locked).
    pub fn wake(&self, mailbox: MailboxId) {
        if let Some(w) = lock(&self.workers).get(&mailbox) {
            w.wake.notify_one();
        }
    }

    /// Held while a front door records that a letter was opened and sends
    /// its read receipt ([`crate::mdn::letter_opened`]): two sessions
    /// opening the same letter at once (the web app and a phone over
    /// IMAP) would otherwise both find no receipt sent and send two.
    pub fn opening(&self, mailbox: MailboxId) -> Arc<tokio::sync::Mutex<()>> {
        let mut openings = lock(&self.openings);
        if let Some(held) = openings.get(&mailbox).and_then(Weak::upgrade) {
            return held;
        }
        openings.retain(|_, w| w.strong_count() > 0);
        let new = Arc::new(tokio::sync::Mutex::new(()));
        openings.insert(mailbox, Arc::downgrade(&new));
        new
    }

    /// Calls `f` with the statuses of the open mailbox's letters, brought up
    /// to date with the trail first (only the entries added since the last
    /// call are read). A mailbox without a worker is read in full.
    pub async fn with_statuses<R>(
        &self,
        mailbox: MailboxId,
        secret: &MailboxSecret,
        f: impl FnOnce(&LetterStatuses) -> R,
    ) -> Result<R, MailError> {
        let cached = lock(&self.workers)
            .get(&mailbox)
            .map(|w| w.statuses.clone());
        let store = self.parts.store.as_ref();
        match cached {
            Some(s) => {
                let mut s = s.lock().await;
                s.refresh(store, mailbox, secret).await?;
                Ok(f(&s))
            }
            None => {
                let mut s = LetterStatuses::default();
                s.refresh(store, mailbox, secret).await?;
                Ok(f(&s))
            }
        }
    }

    /// What every front door does when a person reads a letter (the web
    /// app opens it, a mail program fetches it or marks it read): the
    /// trail's "read" entry for `reader`'s login and the read receipt by
    /// the mailbox's policy, one letter at a time per mailbox; then the
    /// letter is marked `\Seen` (and `$MDNSent` once its receipt is taken
    /// care of, RFC 3503, so no mail program sends one of its own), which
    /// every other session sees.
    pub async fn letter_read(
        &self,
        queue: Option<&dyn athen_core::queue::AutomaticMail>,
        reader: &crate::mdn::Reader<'_>,
        message: &athen_core::mailbox::StoredMessage,
        raw: &[u8],
        now: athen_core::clock::UnixTime,
    ) -> Result<crate::mdn::ReceiptOutcome, MailError> {
        use crate::mdn::ReceiptOutcome;
        use athen_core::mailbox::{FlagChange, ReceiptPolicy, flags};
        let store = self.parts.store.as_ref();
        let opening = self.opening(reader.mailbox);
        let outcome = {
            let _one_at_a_time = opening.lock().await;
            crate::mdn::letter_opened(store, self.parts.blobs.as_ref(), queue, reader, raw, now)
                .await?
        };
        // The worker files the receipt at once when it goes to a mailbox here.
        self.wake(reader.mailbox);
        let handled = matches!(
            outcome,
            ReceiptOutcome::Sent(_)
                | ReceiptOutcome::Queued(_)
                | ReceiptOutcome::AlreadySent
                | ReceiptOutcome::Policy(ReceiptPolicy::Never)
        );
        let set = flags::SEEN | if handled { flags::MDN_SENT } else { 0 };
        if message.flags & set != set {
            store
                .store_flags(
                    reader.mailbox,
                    message.folder_id,
                    &[message.uid],
                    FlagChange::Add(set),
                    None,
                )
                .await?;
        }
        Ok(outcome)
    }

    /// How many mailboxes have a worker.
    pub fn open_count(&self) -> usize {
        lock(&self.workers).len()
    }

    async fn work(
        self: Arc<Self>,
        id: u64,
        account: Account,
        secret: Arc<Mutex<Weak<MailboxSecret>>>,
        wake: Arc<Notify>,
        state: watch::Sender<MailboxState>,
    ) {
        let mailbox = account.mailbox_id;
        let mut order = Order::NewestPageFirst {
            page: self.first_page,
        };
        let mut announced = true;
        // What the runs learnt from the trail: each run reads only what
        // was added since, so filing new mail does not slow down as the
        // trail grows. It holds decrypted facts (addresses, message ids),
        // so it lives only as long as the worker: until the mailbox locks.
        let trail = TrailCache::default();
        // Damaged entries stay in the spool for the administrator; they are
        // not a reason to look again every few seconds.
        let mut damaged = 0u64;
        loop {
            let held = lock(&secret).upgrade();
            let Some(held) = held else {
                // Locked. Unless a new log-in took this worker meanwhile
                // (`opened` holds the same locks, in the same order), it
                // leaves.
                let mut workers = lock(&self.workers);
                if lock(&secret).strong_count() > 0 {
                    announced = true;
                    continue;
                }
                if workers.get(&mailbox).is_some_and(|w| w.id == id) {
                    workers.remove(&mailbox);
                }
                break;
            };
            if announced || self.has_work(mailbox, damaged).await {
                let result = self
                    .run_once(&account, &held, (order, &trail), &state)
                    .await;
                let waiting = self
                    .parts
                    .store
                    .count_spool_entries(mailbox)
                    .await
                    .unwrap_or(0);
                state.send_modify(|s| {
                    s.first_page_ready = true;
                    s.waiting = waiting;
                    match &result {
                        Ok(r) => {
                            damaged = r.damaged.len() as u64;
                            if r.moved + r.receipts_consumed + r.audit_merged > 0 {
                                s.generation += 1;
                            }
                            s.error = None;
                        }
                        Err(e) => s.error = Some(e.clone()),
                    }
                });
                order = Order::Arrival;
            }
            drop(held);
            announced = tokio::time::timeout(POLL, wake.notified()).await.is_ok();
        }
        tracing::debug!(mailbox = %mailbox, "mailbox locked; its unspooler stopped");
    }

    /// Whether anything waits that no spool commit announced (besides the
    /// `damaged` entries the last run left).
    async fn has_work(&self, mailbox: MailboxId, damaged: u64) -> bool {
        let store = &self.parts.store;
        store.count_spool_entries(mailbox).await.unwrap_or(0) > damaged
            || store
                .pending_audit(mailbox)
                .await
                .is_ok_and(|p| !p.is_empty())
    }

    async fn run_once(
        &self,
        account: &Account,
        secret: &Arc<MailboxSecret>,
        (order, trail): (Order, &TrailCache),
        state: &watch::Sender<MailboxState>,
    ) -> Result<UnspoolReport, String> {
        let store = self.parts.store.as_ref();
        let setup = ConversionSetup::for_account(store, account)
            .await
            .map_err(|e| e.to_string())?;
        // The worker's own reference is one; when it is the only one left,
        // every session has ended and the mailbox is to be locked.
        let still_open = || Arc::strong_count(secret) > 1;
        let unspooler = Unspooler {
            blobs: self.parts.blobs.as_ref(),
            spool: store,
            store,
            audit: store,
            mailbox: account.mailbox_id,
            secret,
            setup: &setup,
            still_open: &still_open,
            trail_cache: Some(trail),
        };
        let report = unspooler
            .run(order, |_, left| {
                state.send_modify(|s| {
                    s.first_page_ready = true;
                    s.waiting = left as u64;
                    s.generation += 1;
                })
            })
            .await;
        match report {
            Ok(r) => {
                if !r.damaged.is_empty() {
                    tracing::error!(mailbox = %account.mailbox_id, damaged = r.damaged.len(), "spool entries could not be opened");
                }
                Ok(r)
            }
            Err(e) => {
                tracing::error!(mailbox = %account.mailbox_id, error = %e, "unspool failed; tried again at the next wake");
                Err(e.to_string())
            }
        }
    }
}

impl SpoolListener for LiveMail {
    fn spooled(&self, mailboxes: &[MailboxId]) {
        let workers = lock(&self.workers);
        for m in mailboxes {
            if let Some(w) = workers.get(m) {
                w.wake.notify_one();
            }
        }
    }
}
