//! The audit trail of a mailbox: what happened to each message, from
//! submission to "read" or "imported" (whitepaper "Audit Trail"; the
//! stored form and its hash chain are in `athen_core::audit`).
//!
//! - [`record`] appends events of an unlocked mailbox, encrypted with its
//!   data key; each entry's encryption is bound to its place in the chain
//!   (mailbox, sequence number, the link before it), so entries cannot be
//!   dropped, moved or swapped without their owner noticing.
//! - [`record_sealed`] keeps an event of a locked mailbox (a relay result,
//!   a receipt) sealed to its public key; [`merge_pending`] moves those
//!   into the chain at the next unlock. The server can write them but not
//!   read them, as with the spool.
//! - [`trail`] decrypts a mailbox's trail for its owner, checking the chain;
//!   [`verify`] checks the chain with no key at all, for the administrator.
//! - [`TrailSink`] is the [`AuditSink`] the SMTP front door and the outbound
//!   queue report to.

use crate::MailError;
use athen_core::audit::{
    AttemptResult, AuditAnchor, AuditEntry, AuditSink, ChainCheck, ChainHash, DeliveryEvent,
    verify_chain,
};
use athen_core::clock::{Clock, UnixTime};
use athen_core::store::{AuditStore, MailboxStore};
use athen_core::{MailboxId, StoreError};
use athen_vault::MailboxSecret;
use athen_vault::seal::{decrypt_stored, encrypt_stored, open_sealed, seal_to};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What happened (the whitepaper's states, and those the downloader and
/// conversion add).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Sent by a user of this mailbox.
    Submitted,
    /// Waiting in the outbound queue for another server.
    Queued,
    /// Accepted by the next server (not yet by the recipient).
    Relayed,
    /// In the recipient's mailbox.
    Delivered,
    /// Not delivered yet; still being tried.
    Delayed,
    /// Given up; `detail` says why.
    Failed,
    /// Arrived in this mailbox.
    Received,
    /// Opened by the recipient (a read receipt: MDN "displayed").
    Read,
    /// MDN "processed", "dispatched", "deleted" (RFC 8098 §3.2.6).
    Processed,
    Dispatched,
    Deleted,
    /// This mailbox sent a read receipt for a letter it opened.
    ReceiptSent,
    /// Fetched by the downloader.
    Downloaded,
    /// Taken in by the recipient's clinical system.
    Imported,
    /// The downloader could not deliver the import file (`detail`: why);
    /// it is offered again. Not a failure of the letter.
    ImportFailed,
    /// Converted for the clinical system (`detail`: the format), or not
    /// (`detail`: "not possible, because …").
    Converted,
}

impl EventKind {
    /// Where in a letter's life the event comes: submission first, then
    /// queuing and local delivery, then what other servers and the
    /// recipient report.
    fn stage(self) -> u8 {
        match self {
            EventKind::Submitted | EventKind::Received => 0,
            EventKind::Queued | EventKind::Delivered | EventKind::Converted => 1,
            EventKind::Relayed | EventKind::Delayed | EventKind::Failed => 2,
            EventKind::Read
            | EventKind::Processed
            | EventKind::Dispatched
            | EventKind::Deleted
            | EventKind::ReceiptSent
            | EventKind::Downloaded
            | EventKind::Imported
            | EventKind::ImportFailed => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Submitted => "submitted",
            EventKind::Queued => "queued",
            EventKind::Relayed => "relayed",
            EventKind::Delivered => "delivered",
            EventKind::Delayed => "delayed",
            EventKind::Failed => "failed",
            EventKind::Received => "received",
            EventKind::Read => "read",
            EventKind::Processed => "processed",
            EventKind::Dispatched => "dispatched",
            EventKind::Deleted => "deleted",
            EventKind::ReceiptSent => "receipt_sent",
            EventKind::Downloaded => "downloaded",
            EventKind::Imported => "imported",
            EventKind::ImportFailed => "import_failed",
            EventKind::Converted => "converted",
        }
    }
}

/// One event of the trail, as its owner reads it. Which message it is
/// about is told by Message-ID and, for sent mail, the envelope id that
/// delivery reports carry (RFC 3461 ENVID).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailEvent {
    pub kind: Option<EventKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envid: Option<String>,
    /// The other side: the recipient of sent mail, the sender of received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correspondent: Option<String>,
    /// A server's reply, a reason, a format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
    /// How the connection was protected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// Which login did it (staff of an organisation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The import file made from the letter (8.3 name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl TrailEvent {
    pub fn new(kind: EventKind) -> TrailEvent {
        TrailEvent {
            kind: Some(kind),
            ..TrailEvent::default()
        }
    }

    /// Whether the event is about the message with this Message-ID (angle
    /// brackets optional) or envelope id.
    pub fn is_about(&self, id: &str) -> bool {
        let bare = id.trim().trim_start_matches('<').trim_end_matches('>');
        self.message_id.as_deref() == Some(bare) || self.envid.as_deref() == Some(bare)
    }
}

/// The timeline of one message: the events about its Message-ID or
/// envelope id, and those about the envelope ids its events carry (relay
/// results and delivery reports know only the envelope id).
pub fn of_message(items: Vec<TrailItem>, id: &str) -> Vec<TrailItem> {
    let envids: Vec<String> = items
        .iter()
        .filter(|i| i.event.is_about(id))
        .filter_map(|i| i.event.envid.clone())
        .collect();
    items
        .into_iter()
        .filter(|i| i.event.is_about(id) || envids.iter().any(|e| i.event.is_about(e)))
        .collect()
}

/// One decrypted entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailItem {
    pub seq: u64,
    pub at: UnixTime,
    pub event: TrailEvent,
}

impl TrailItem {
    /// The entry as JSON: its event's fields, `seq`, and `at` (RFC 3339).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.event).unwrap_or(serde_json::Value::Null);
        v["seq"] = serde_json::json!(self.seq);
        v["at"] = serde_json::json!(athen_core::clock::rfc3339(self.at));
        v
    }
}

/// The associated data of entry `seq`: its mailbox, place, time and the
/// link before it.
fn entry_binding(mailbox: MailboxId, seq: u64, at: UnixTime, prev: &ChainHash) -> String {
    let hex: String = prev.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:{seq}:{at}:{hex}", mailbox.0)
}

fn encode(event: &TrailEvent) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
    serde_json::to_vec(event)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| StoreError::Io(format!("encode audit event: {e}")))
}

/// Encrypts an event for place `seq` (at time `at`) of `mailbox`'s chain.
pub(crate) fn seal_entry(
    secret: &MailboxSecret,
    mailbox: MailboxId,
    (seq, at, prev): (u64, UnixTime, &ChainHash),
    event: &TrailEvent,
) -> Result<Vec<u8>, StoreError> {
    encrypt_stored(
        secret,
        "audit",
        &entry_binding(mailbox, seq, at, prev),
        &encode(event)?,
    )
    .map_err(|e| StoreError::Io(e.to_string()))
}

/// Appends events of an unlocked mailbox, all at `at`.
pub async fn record(
    store: &dyn AuditStore,
    mailbox: MailboxId,
    secret: &MailboxSecret,
    at: UnixTime,
    events: &[TrailEvent],
) -> Result<Vec<u64>, MailError> {
    let times = vec![at; events.len()];
    let seal = |i: usize, seq: u64, prev: &ChainHash| {
        seal_entry(secret, mailbox, (seq, at, prev), &events[i])
    };
    Ok(store.append_audit(mailbox, &times, &[], &seal).await?)
}

/// Keeps an event of a mailbox that may be locked, sealed to its public key.
pub async fn record_sealed(
    store: &dyn AuditStore,
    mailbox: MailboxId,
    public_key: &str,
    at: UnixTime,
    event: &TrailEvent,
) -> Result<(), MailError> {
    let sealed = seal_to(public_key, &encode(event)?)?;
    Ok(store.add_pending_audit(mailbox, at, sealed).await?)
}

/// Moves the events kept while the mailbox was locked into its chain, in
/// the order they happened, in one transaction. A pending event that does
/// not open for this mailbox is left where it is and logged (by id only).
pub async fn merge_pending(
    store: &dyn AuditStore,
    mailbox: MailboxId,
    secret: &MailboxSecret,
) -> Result<usize, MailError> {
    let pending = store.pending_audit(mailbox).await?;
    let mut opened = Vec::with_capacity(pending.len());
    for p in &pending {
        match open_sealed(secret, &p.sealed)
            .ok()
            .and_then(|raw| serde_json::from_slice::<TrailEvent>(&raw).ok())
        {
            Some(event) => opened.push((p.id, p.at, event)),
            None => tracing::error!(
                mailbox = %mailbox,
                pending = p.id,
                "a pending audit event does not open; left in place"
            ),
        }
    }
    if opened.is_empty() {
        return Ok(0);
    }
    // Times are in seconds: within one second a letter's events go in the
    // order a letter passes through them (the queue may relay a message
    // before the submission that queued it has been recorded).
    opened.sort_by_key(|(id, at, e)| (*at, e.kind.map(EventKind::stage), *id));
    let times: Vec<UnixTime> = opened.iter().map(|(_, at, _)| *at).collect();
    let merged: Vec<i64> = opened.iter().map(|(id, ..)| *id).collect();
    let seal = |i: usize, seq: u64, prev: &ChainHash| {
        seal_entry(secret, mailbox, (seq, opened[i].1, prev), &opened[i].2)
    };
    match store.append_audit(mailbox, &times, &merged, &seal).await {
        Ok(_) => Ok(opened.len()),
        // Another unlock of the same mailbox merged them first (the events
        // that came since are merged by the next run).
        Err(athen_core::StoreError::NotFound(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// The whole kept trail of an unlocked mailbox, oldest first. The chain is
/// checked first; an entry that does not decrypt in its place is reported
/// as damage, never skipped.
pub async fn trail(
    store: &dyn AuditStore,
    mailbox: MailboxId,
    secret: &MailboxSecret,
) -> Result<Vec<TrailItem>, MailError> {
    Ok(trail_with_head(store, mailbox, secret).await?.0)
}

/// [`trail`], and its head: where a reader that keeps what it read
/// catches up from ([`trail_after`]).
pub async fn trail_with_head(
    store: &dyn AuditStore,
    mailbox: MailboxId,
    secret: &MailboxSecret,
) -> Result<(Vec<TrailItem>, AuditAnchor), MailError> {
    let (anchor, entries) = store.audit_trail(mailbox).await?;
    open_entries(mailbox, secret, anchor, entries)
}

/// The entries after `head` (the end of what was read before), checked to
/// continue its chain, and the new head. `None` if they do not start right
/// after it (retention moved past it): read the whole trail again.
pub async fn trail_after(
    store: &dyn AuditStore,
    mailbox: MailboxId,
    secret: &MailboxSecret,
    head: AuditAnchor,
) -> Result<Option<(Vec<TrailItem>, AuditAnchor)>, MailError> {
    let entries = store.audit_entries_after(mailbox, head.seq).await?;
    if entries.first().is_some_and(|e| e.seq != head.seq + 1) {
        return Ok(None);
    }
    open_entries(mailbox, secret, head, entries).map(Some)
}

/// Checks `entries` as the chain continuing from `from` and decrypts each
/// in its place.
fn open_entries(
    mailbox: MailboxId,
    secret: &MailboxSecret,
    from: AuditAnchor,
    entries: Vec<AuditEntry>,
) -> Result<(Vec<TrailItem>, AuditAnchor), MailError> {
    let head = match verify_chain(from, &entries) {
        ChainCheck::Broken { reason, .. } => {
            return Err(StoreError::Corrupt(format!("the audit trail is broken: {reason}")).into());
        }
        ChainCheck::Intact { head, .. } => head,
    };
    let mut prev = from.hash;
    let mut items = Vec::with_capacity(entries.len());
    for e in entries {
        let plain = decrypt_stored(
            secret,
            "audit",
            &entry_binding(mailbox, e.seq, e.at, &prev),
            &e.sealed,
        )
        .map_err(|_| {
            StoreError::Corrupt(format!(
                "audit entry {} does not belong in its place: the trail was rewritten",
                e.seq
            ))
        })?;
        let event: TrailEvent = serde_json::from_slice(&plain)
            .map_err(|e| StoreError::Corrupt(format!("audit entry: {e}")))?;
        items.push(TrailItem {
            seq: e.seq,
            at: e.at,
            event,
        });
        prev = e.hash;
    }
    Ok((items, head))
}

/// Checks a mailbox's chain without any key.
pub async fn verify(store: &dyn AuditStore, mailbox: MailboxId) -> Result<ChainCheck, MailError> {
    let (anchor, entries) = store.audit_trail(mailbox).await?;
    Ok(verify_chain(anchor, &entries))
}

/// Retention: removes every mailbox's entries older than `before` (the
/// chains stay checkable from their new anchors). Returns how many went.
pub async fn expire_all(store: &dyn AuditStore, before: UnixTime) -> Result<u64, MailError> {
    let mut removed = 0;
    for mailbox in store.audited_mailboxes().await? {
        removed += store.expire_audit(mailbox, before).await?;
    }
    Ok(removed)
}

/// The trail events of delivery, as the SMTP front door and the outbound
/// queue report them: always sealed to the sender mailbox's public key
/// (the sender may be logged out by the time a relay result comes), merged
/// at its next unlock.
pub struct TrailSink {
    pub mailboxes: Arc<dyn MailboxStore>,
    pub audit: Arc<dyn AuditStore>,
    pub clock: Arc<dyn Clock>,
}

impl TrailSink {
    /// The trail events one delivery event stands for, and whose trail.
    pub fn events_of(event: &DeliveryEvent) -> Option<(MailboxId, Vec<TrailEvent>)> {
        match event {
            DeliveryEvent::Submitted {
                sender,
                login,
                envid,
                message_id,
                local_recipients,
                remote_recipients,
            } => {
                let base = TrailEvent {
                    message_id: message_id.clone(),
                    envid: Some(envid.clone()),
                    ..TrailEvent::default()
                };
                let n = local_recipients.len() + remote_recipients.len();
                let mut out = vec![TrailEvent {
                    kind: Some(EventKind::Submitted),
                    detail: Some(format!("to {n} recipient{}", if n == 1 { "" } else { "s" })),
                    actor: Some(login.clone()),
                    ..base.clone()
                }];
                for r in local_recipients {
                    out.push(TrailEvent {
                        kind: Some(EventKind::Delivered),
                        correspondent: Some(r.clone()),
                        detail: Some("delivered to a mailbox on this server".into()),
                        ..base.clone()
                    });
                }
                for r in remote_recipients {
                    out.push(TrailEvent {
                        kind: Some(EventKind::Queued),
                        correspondent: Some(r.clone()),
                        ..base.clone()
                    });
                }
                Some((*sender, out))
            }
            DeliveryEvent::Attempted {
                sender,
                envid,
                recipient,
                outcome,
                reply,
                remote_host,
                tls,
                ..
            } => {
                let kind = match outcome {
                    AttemptResult::Relayed => EventKind::Relayed,
                    AttemptResult::Deferred => EventKind::Delayed,
                    AttemptResult::Failed => EventKind::Failed,
                };
                Some((
                    (*sender)?,
                    vec![TrailEvent {
                        kind: Some(kind),
                        envid: envid.clone(),
                        correspondent: Some(recipient.clone()),
                        detail: Some(reply.clone()),
                        remote_host: remote_host.clone(),
                        tls: tls.clone(),
                        ..TrailEvent::default()
                    }],
                ))
            }
        }
    }
}

#[async_trait::async_trait]
impl AuditSink for TrailSink {
    async fn record(&self, event: DeliveryEvent) {
        // Reports about mail from elsewhere (bounces we relay) have no
        // sender mailbox here, and no trail.
        let Some((mailbox, events)) = Self::events_of(&event) else {
            return;
        };
        let public_key = match self.mailboxes.mailbox(mailbox).await {
            Ok(Some(m)) => m.public_key,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(mailbox = %mailbox, error = %e, "audit event not recorded");
                return;
            }
        };
        let now = self.clock.now();
        for e in &events {
            if let Err(err) = record_sealed(self.audit.as_ref(), mailbox, &public_key, now, e).await
            {
                tracing::error!(
                    mailbox = %mailbox,
                    kind = e.kind.map(EventKind::as_str).unwrap_or("-"),
                    error = %err,
                    "audit event not recorded"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use athen_core::account::{AccountKind, CredentialKind, NewCredential};
    use athen_core::directory::EntryDetails;
    use athen_core::store::{AccountStore, NewAccount};
    use athen_store::SqliteStore;

    async fn mailbox_with_secret(s: &SqliteStore) -> (MailboxId, MailboxSecret) {
        let secret = MailboxSecret::generate().unwrap();
        let c = s
            .create_account(NewAccount {
                kind: AccountKind::Individual,
                address: "jane@athen.localhost".into(),
                name: "Jane".into(),
                details: EntryDetails::default(),
                public_key: secret.public_key(),
                credentials: vec![NewCredential {
                    kind: CredentialKind::Password,
                    label: String::new(),
                    wrapped: vec![0],
                    doors: athen_core::account::Doors::PASSWORD,
                }],
                created_at: 0,
                confirmation_hash: None,
            })
            .await
            .unwrap();
        (c.mailbox_id, secret)
    }

    fn about(kind: EventKind, id: &str) -> TrailEvent {
        TrailEvent {
            message_id: Some(id.into()),
            ..TrailEvent::new(kind)
        }
    }

    #[tokio::test]
    async fn events_recorded_locked_and_unlocked_form_one_checked_trail() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("athen.db"))
            .await
            .unwrap();
        let (mb, secret) = mailbox_with_secret(&s).await;
        record(&s, mb, &secret, 100, &[about(EventKind::Submitted, "a@x")])
            .await
            .unwrap();
        // While locked: sealed to the public key, not yet in the chain.
        for (at, kind) in [(300, EventKind::Delivered), (200, EventKind::Relayed)] {
            record_sealed(&s, mb, &secret.public_key(), at, &about(kind, "a@x"))
                .await
                .unwrap();
        }
        record_sealed(
            &s,
            mb,
            &secret.public_key(),
            250,
            &about(EventKind::Read, "b@x"),
        )
        .await
        .unwrap();
        assert_eq!(s.pending_audit(mb).await.unwrap().len(), 3);
        assert_eq!(trail(&s, mb, &secret).await.unwrap().len(), 1);
        // A pending event for another mailbox does not open and stays.
        let stranger = MailboxSecret::generate().unwrap();
        record_sealed(
            &s,
            mb,
            &stranger.public_key(),
            260,
            &about(EventKind::Read, "c@x"),
        )
        .await
        .unwrap();
        assert_eq!(merge_pending(&s, mb, &secret).await.unwrap(), 3);
        assert_eq!(s.pending_audit(mb).await.unwrap().len(), 1);
        assert_eq!(merge_pending(&s, mb, &secret).await.unwrap(), 0, "once");
        let items = trail(&s, mb, &secret).await.unwrap();
        let kinds: Vec<(u64, UnixTime, &str)> = items
            .iter()
            .map(|i| (i.seq, i.at, i.event.kind.unwrap().as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (1, 100, "submitted"),
                (2, 200, "relayed"),
                (3, 250, "read"),
                (4, 300, "delivered")
            ],
            "merged in the order they happened"
        );
        let of_a: Vec<u64> = items
            .iter()
            .filter(|i| i.event.is_about("<a@x>"))
            .map(|i| i.seq)
            .collect();
        assert_eq!(of_a, [1, 2, 4]);
        // A relay result knows only the envelope id.
        let mut with_envid = items.clone();
        with_envid[0].event.envid = Some("E9".into());
        with_envid[2].event = TrailEvent {
            envid: Some("E9".into()),
            ..TrailEvent::new(EventKind::Relayed)
        };
        let timeline: Vec<u64> = of_message(with_envid, "a@x")
            .iter()
            .map(|i| i.seq)
            .collect();
        assert_eq!(timeline, [1, 2, 3, 4]);
        assert!(matches!(
            verify(&s, mb).await.unwrap(),
            ChainCheck::Intact { entries: 4, .. }
        ));

        // Retention keeps the rest checkable, and new entries follow on.
        assert_eq!(s.expire_audit(mb, 240).await.unwrap(), 2);
        assert!(matches!(
            verify(&s, mb).await.unwrap(),
            ChainCheck::Intact { entries: 2, .. }
        ));
        record(&s, mb, &secret, 400, &[about(EventKind::Imported, "a@x")])
            .await
            .unwrap();
        let items = trail(&s, mb, &secret).await.unwrap();
        assert_eq!(items.iter().map(|i| i.seq).collect::<Vec<_>>(), [3, 4, 5]);
        s.close().await;
    }

    #[tokio::test]
    async fn a_rewritten_trail_passes_the_keyless_check_but_not_its_owner() {
        use athen_core::audit::chain_hash;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("athen.db");
        let s = SqliteStore::open(&path).await.unwrap();
        let (mb, secret) = mailbox_with_secret(&s).await;
        let events: Vec<TrailEvent> = ["1@x", "2@x", "3@x"]
            .iter()
            .map(|id| about(EventKind::Received, id))
            .collect();
        record(&s, mb, &secret, 100, &events).await.unwrap();
        let (_, entries) = s.audit_trail(mb).await.unwrap();
        s.close().await;

        // Someone with the database drops entry 2 and recomputes the links.
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::query("DELETE FROM audit_entries WHERE seq = 2")
            .execute(&pool)
            .await
            .unwrap();
        let e3 = &entries[2];
        let new_hash = chain_hash(&entries[0].hash, 2, e3.at, &e3.sealed);
        sqlx::query("UPDATE audit_entries SET seq = 2, hash = $1 WHERE seq = 3")
            .bind(new_hash.to_vec())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;

        let s = SqliteStore::open(&path).await.unwrap();
        assert!(
            matches!(verify(&s, mb).await.unwrap(), ChainCheck::Intact { .. }),
            "the links alone cannot tell"
        );
        let err = trail(&s, mb, &secret).await.unwrap_err().to_string();
        assert!(err.contains("does not belong in its place"), "{err}");

        // A change without recomputing is caught by the keyless check.
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::query("UPDATE audit_entries SET at = at + 1 WHERE seq = 1")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        assert!(matches!(
            verify(&s, mb).await.unwrap(),
            ChainCheck::Broken { seq: 1, .. }
        ));
        assert!(trail(&s, mb, &secret).await.is_err());
        s.close().await;
    }

    #[test]
    fn delivery_events_become_trail_events_of_the_sender() {
        let (mb, events) = TrailSink::events_of(&DeliveryEvent::Submitted {
            sender: MailboxId(7),
            login: "anna@clinic.test".into(),
            envid: "E1".into(),
            message_id: Some("m@x".into()),
            local_recipients: vec!["a@here".into()],
            remote_recipients: vec!["b@there".into(), "c@there".into()],
        })
        .unwrap();
        assert_eq!(mb, MailboxId(7));
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.unwrap().as_str()).collect();
        assert_eq!(kinds, ["submitted", "delivered", "queued", "queued"]);
        assert_eq!(events[0].detail.as_deref(), Some("to 3 recipients"));
        assert_eq!(events[0].actor.as_deref(), Some("anna@clinic.test"));
        assert!(events.iter().all(|e| e.is_about("E1") && e.is_about("m@x")));
        let relayed = DeliveryEvent::Attempted {
            sender: None,
            envid: None,
            queue_id: athen_core::QueueId(1),
            recipient: "b@there".into(),
            outcome: AttemptResult::Relayed,
            reply: "250 ok".into(),
            remote_host: None,
            tls: None,
        };
        assert!(TrailSink::events_of(&relayed).is_none(), "no sender here");
    }
}
