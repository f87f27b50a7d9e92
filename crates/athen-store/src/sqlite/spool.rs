//! Spool entries: group-committed writes (see [`super::SpoolBatch`]), and
//! taking an entry out of the spool into the mailbox store.

use super::mailbox::insert_message;
use super::*;

impl SqliteStore {
    /// Inserts every pending request's rows in one transaction and answers
    /// each after the commit. If the batch fails, each request is tried in
    /// a transaction of its own, so one bad request fails alone.
    async fn commit_spool_batch(&self, batch: Vec<PendingSpool>) {
        let together = async {
            let mut tx = self.tx().await?;
            let mut all = Vec::with_capacity(batch.len());
            for p in &batch {
                all.push(insert_spool_rows(&mut tx, p).await?);
            }
            tx.commit().await.map_err(db_err)?;
            Ok::<_, StoreError>(all)
        }
        .await;
        match together {
            Ok(all) => {
                for (p, ids) in batch.into_iter().zip(all) {
                    let _ = p.reply.send(Ok(ids));
                }
            }
            Err(_) if batch.len() > 1 => {
                for p in batch {
                    let alone = async {
                        let mut tx = self.tx().await?;
                        let ids = insert_spool_rows(&mut tx, &p).await?;
                        tx.commit().await.map_err(db_err)?;
                        Ok(ids)
                    }
                    .await;
                    let _ = p.reply.send(alone);
                }
            }
            Err(e) => {
                if let Some(p) = batch.into_iter().next() {
                    let _ = p.reply.send(Err(e));
                }
            }
        }
    }
}

async fn insert_spool_rows(
    tx: &mut Transaction<'static, Sqlite>,
    p: &PendingSpool,
) -> StoreResult<Vec<SpoolId>> {
    let mut ids = Vec::with_capacity(p.entries.len());
    for (mailbox, key) in &p.entries {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO spool (mailbox_id, blob_key, size, received_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(mailbox.0)
        .bind(key)
        .bind(p.size)
        .bind(p.at)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
        ids.push(SpoolId(id));
    }
    Ok(ids)
}

/// Removes a spool row within `tx`; `NotFound` if it is gone already (a
/// second attempt after a crash), so nothing is moved twice.
async fn delete_spool_row(
    tx: &mut Transaction<'static, Sqlite>,
    entry: SpoolId,
    mailbox: MailboxId,
) -> Result<(), StoreError> {
    let n = sqlx::query("DELETE FROM spool WHERE id = $1 AND mailbox_id = $2")
        .bind(entry.0)
        .bind(mailbox.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("spool entry {entry}")));
    }
    Ok(())
}

#[async_trait]
impl SpoolStore for SqliteStore {
    async fn add_spool_entry(
        &self,
        mailbox: MailboxId,
        blob_key: &str,
        size: u64,
        at: UnixTime,
    ) -> StoreResult<SpoolId> {
        self.add_spool_entries(&[(mailbox, blob_key.to_string())], size, at)
            .await?
            .pop()
            .ok_or_else(|| StoreError::Io("no spool entry was made".into()))
    }

    async fn add_spool_entries(
        &self,
        entries: &[(MailboxId, String)],
        size: u64,
        at: UnixTime,
    ) -> StoreResult<Vec<SpoolId>> {
        let size = i64::try_from(size).map_err(|e| StoreError::State(e.to_string()))?;
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        lock(&self.spool_batch.pending).push(PendingSpool {
            entries: entries.to_vec(),
            size,
            at,
            reply,
        });
        loop {
            use tokio::sync::oneshot::error::TryRecvError;
            match answer.try_recv() {
                Ok(result) => {
                    if result.is_ok()
                        && let Some(listener) = self.spool_listener.get()
                    {
                        let mailboxes: Vec<MailboxId> = entries.iter().map(|(m, _)| *m).collect();
                        listener.spooled(&mailboxes);
                    }
                    return result;
                }
                Err(TryRecvError::Closed) => {
                    return Err(StoreError::Io(
                        "the commit of this message was interrupted".into(),
                    ));
                }
                Err(TryRecvError::Empty) => {}
            }
            let _leader = self.spool_batch.leader.lock().await;
            let batch = std::mem::take(&mut *lock(&self.spool_batch.pending));
            if !batch.is_empty() {
                self.commit_spool_batch(batch).await;
            }
        }
    }

    async fn count_spool_entries(&self, mailbox: MailboxId) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM spool WHERE mailbox_id = $1")
            .bind(mailbox.0)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?;
        Ok(n.max(0) as u64)
    }

    async fn spool_entries(&self, mailbox: MailboxId) -> StoreResult<Vec<SpoolEntry>> {
        sqlx::query("SELECT id, mailbox_id, blob_key, size, received_at FROM spool WHERE mailbox_id = $1 ORDER BY id")
            .bind(mailbox.0)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(SpoolEntry {
                    id: SpoolId(r.try_get("id").map_err(db_err)?),
                    mailbox_id: MailboxId(r.try_get("mailbox_id").map_err(db_err)?),
                    blob_key: r.try_get("blob_key").map_err(db_err)?,
                    size: r.try_get::<i64, _>("size").map_err(db_err)? as u64,
                    received_at: r.try_get("received_at").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn unspool(
        &self,
        entry: SpoolId,
        msg: NewStoredMessage,
        audit: &[UnixTime],
        seal: &athen_core::audit::SealEntry<'_>,
    ) -> StoreResult<StoredMessage> {
        let mailbox = msg.mailbox_id;
        let mut tx = self.tx().await?;
        delete_spool_row(&mut tx, entry, mailbox).await?;
        let m = insert_message(&mut tx, msg, entry.0).await?;
        super::audit::append_in_tx(&mut tx, mailbox, audit, seal).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(m)
    }

    async fn consume_spool_entry(
        &self,
        entry: SpoolId,
        mailbox: MailboxId,
        audit: &[UnixTime],
        seal: &athen_core::audit::SealEntry<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        delete_spool_row(&mut tx, entry, mailbox).await?;
        super::audit::append_in_tx(&mut tx, mailbox, audit, seal).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }
}
