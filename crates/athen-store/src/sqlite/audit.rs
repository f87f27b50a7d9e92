//! The audit trail in SQLite (`AuditStore`). Entries are appended inside
//! the single writer's transactions, so each gets the next place in its
//! mailbox's chain exactly once, and its link is computed here from the
//! entry before it (`athen_core::audit::chain_hash`).

use super::{SqliteStore, db_err};
use async_trait::async_trait;
use athen_core::StoreError;
use athen_core::audit::{AuditAnchor, AuditEntry, ChainHash, PendingAuditEvent, SealEntry};
use athen_core::clock::UnixTime;
use athen_core::ids::MailboxId;
use athen_core::store::{AuditStore, StoreResult};
use sqlx::{Row, Sqlite, Transaction};

fn hash_of(bytes: Vec<u8>) -> StoreResult<ChainHash> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("an audit link is not 32 bytes".into()))
}

async fn anchor(conn: &mut sqlx::SqliteConnection, mailbox: MailboxId) -> StoreResult<AuditAnchor> {
    let row = sqlx::query("SELECT seq, hash FROM audit_anchors WHERE mailbox_id = $1")
        .bind(mailbox.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    row.as_ref()
        .map(link_of)
        .unwrap_or(Ok(AuditAnchor::default()))
}

/// A `seq, hash` row as a chain link.
fn link_of(r: &sqlx::sqlite::SqliteRow) -> StoreResult<AuditAnchor> {
    Ok(AuditAnchor {
        seq: r.try_get::<i64, _>("seq").map_err(db_err)? as u64,
        hash: hash_of(r.try_get("hash").map_err(db_err)?)?,
    })
}

/// The last link of a mailbox's chain (its anchor when it has no entries).
async fn head(conn: &mut sqlx::SqliteConnection, mailbox: MailboxId) -> StoreResult<AuditAnchor> {
    let row = sqlx::query(
        "SELECT seq, hash FROM audit_entries WHERE mailbox_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(mailbox.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    match row {
        Some(r) => link_of(&r),
        None => anchor(conn, mailbox).await,
    }
}

/// Appends entries at the head of the chain within `tx`.
pub(crate) async fn append_in_tx(
    tx: &mut Transaction<'static, Sqlite>,
    mailbox: MailboxId,
    times: &[UnixTime],
    seal: &SealEntry<'_>,
) -> StoreResult<Vec<u64>> {
    let mut at_head = head(tx, mailbox).await?;
    let mut seqs = Vec::with_capacity(times.len());
    for (i, &at) in times.iter().enumerate() {
        let seq = at_head.seq + 1;
        let sealed = seal(i, seq, &at_head.hash)?;
        let hash = athen_core::audit::chain_hash(&at_head.hash, seq, at, &sealed);
        sqlx::query(
            "INSERT INTO audit_entries (mailbox_id, seq, at, sealed, hash) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(mailbox.0)
        .bind(seq as i64)
        .bind(at)
        .bind(sealed)
        .bind(hash.to_vec())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        at_head = AuditAnchor { seq, hash };
        seqs.push(seq);
    }
    Ok(seqs)
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn add_pending_audit(
        &self,
        mailbox: MailboxId,
        at: UnixTime,
        sealed: Vec<u8>,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO audit_pending (mailbox_id, at, sealed) VALUES ($1, $2, $3)")
            .bind(mailbox.0)
            .bind(at)
            .bind(sealed)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn pending_audit(&self, mailbox: MailboxId) -> StoreResult<Vec<PendingAuditEvent>> {
        sqlx::query("SELECT id, at, sealed FROM audit_pending WHERE mailbox_id = $1 ORDER BY id")
            .bind(mailbox.0)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(PendingAuditEvent {
                    id: r.try_get("id").map_err(db_err)?,
                    at: r.try_get("at").map_err(db_err)?,
                    sealed: r.try_get("sealed").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn append_audit(
        &self,
        mailbox: MailboxId,
        times: &[UnixTime],
        merged: &[i64],
        seal: &SealEntry<'_>,
    ) -> StoreResult<Vec<u64>> {
        let mut tx = self.tx().await?;
        let seqs = append_in_tx(&mut tx, mailbox, times, seal).await?;
        for id in merged {
            let gone = sqlx::query("DELETE FROM audit_pending WHERE id = $1 AND mailbox_id = $2")
                .bind(id)
                .bind(mailbox.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected()
                == 0;
            if gone {
                // Merged by another unlock meanwhile: roll back, so no
                // event enters the trail twice.
                return Err(StoreError::NotFound(format!("pending audit event {id}")));
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(seqs)
    }

    async fn audit_trail(&self, mailbox: MailboxId) -> StoreResult<(AuditAnchor, Vec<AuditEntry>)> {
        // One read transaction, so the anchor and the entries agree even
        // while retention runs.
        let mut tx = self.read.begin().await.map_err(db_err)?;
        let start = anchor(&mut tx, mailbox).await?;
        let entries = entries_after(&mut tx, mailbox, 0).await?;
        tx.commit().await.map_err(db_err)?;
        Ok((start, entries))
    }

    async fn audit_entries_after(
        &self,
        mailbox: MailboxId,
        seq: u64,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut conn = self.read.acquire().await.map_err(db_err)?;
        entries_after(&mut conn, mailbox, seq).await
    }

    async fn expire_audit(&self, mailbox: MailboxId, before: UnixTime) -> StoreResult<u64> {
        let mut tx = self.tx().await?;
        // The oldest entry still within retention, and every entry after
        // it, stay: only a leading run of old entries goes, so the kept
        // part is one unbroken chain from the new anchor.
        let keep_from: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(seq) FROM audit_entries WHERE mailbox_id = $1 AND at >= $2",
        )
        .bind(mailbox.0)
        .bind(before)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let last_removed = sqlx::query(
            "SELECT seq, hash FROM audit_entries WHERE mailbox_id = $1 AND ($2 IS NULL OR seq < $2) \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(mailbox.0)
        .bind(keep_from)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(last) = last_removed else {
            return Ok(0);
        };
        let seq: i64 = last.try_get("seq").map_err(db_err)?;
        let hash: Vec<u8> = last.try_get("hash").map_err(db_err)?;
        let removed = sqlx::query("DELETE FROM audit_entries WHERE mailbox_id = $1 AND seq <= $2")
            .bind(mailbox.0)
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        sqlx::query(
            "INSERT INTO audit_anchors (mailbox_id, seq, hash) VALUES ($1, $2, $3) \
             ON CONFLICT (mailbox_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(mailbox.0)
        .bind(seq)
        .bind(hash)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(removed)
    }

    async fn audited_mailboxes(&self) -> StoreResult<Vec<MailboxId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT mailbox_id FROM audit_entries UNION SELECT mailbox_id FROM audit_anchors \
             UNION SELECT mailbox_id FROM audit_pending ORDER BY 1",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        Ok(ids.into_iter().map(MailboxId).collect())
    }
}

/// The entries of a trail after `seq`, in order.
async fn entries_after(
    conn: &mut sqlx::SqliteConnection,
    mailbox: MailboxId,
    seq: u64,
) -> StoreResult<Vec<AuditEntry>> {
    sqlx::query(
        "SELECT seq, at, sealed, hash FROM audit_entries WHERE mailbox_id = $1 AND seq > $2 ORDER BY seq",
    )
    .bind(mailbox.0)
    .bind(i64::try_from(seq).map_err(|e| StoreError::State(e.to_string()))?)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?
    .iter()
    .map(|r| {
        Ok(AuditEntry {
            seq: r.try_get::<i64, _>("seq").map_err(db_err)? as u64,
            at: r.try_get("at").map_err(db_err)?,
            sealed: r.try_get("sealed").map_err(db_err)?,
            hash: hash_of(r.try_get("hash").map_err(db_err)?)?,
        })
    })
    .collect()
}
