//! The outbound queue in SQLite (`QueueStore`).

use super::{SqliteStore, db_err};
use async_trait::async_trait;
use athen_core::StoreError;
use athen_core::clock::UnixTime;
use athen_core::ids::{MailboxId, QueueId, QueueRecipientId};
use athen_core::queue::*;
use athen_core::store::{QueueStore, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

const MESSAGE_COLUMNS: &str =
    "id, sender_mailbox_id, mail_from, envid, ret, blob_key, size, created_at, delay_reported";
const RECIPIENT_COLUMNS: &str = "id, message_id, address, domain, orcpt, notify, state, attempts, \
     next_attempt_at, last_reply, remote_host, tls, reported";

fn ret_str(ret: Option<Ret>) -> Option<&'static str> {
    ret.map(|r| match r {
        Ret::Full => "FULL",
        Ret::Headers => "HDRS",
    })
}

fn message_row(r: &SqliteRow) -> StoreResult<QueuedMessage> {
    let ret: Option<String> = r.try_get("ret").map_err(db_err)?;
    Ok(QueuedMessage {
        id: QueueId(r.try_get("id").map_err(db_err)?),
        sender_mailbox: r
            .try_get::<Option<i64>, _>("sender_mailbox_id")
            .map_err(db_err)?
            .map(MailboxId),
        mail_from: r.try_get("mail_from").map_err(db_err)?,
        envid: r.try_get("envid").map_err(db_err)?,
        ret: match ret.as_deref() {
            None => None,
            Some("FULL") => Some(Ret::Full),
            Some("HDRS") => Some(Ret::Headers),
            Some(other) => {
                return Err(StoreError::Corrupt(format!("queue: unknown RET {other:?}")));
            }
        },
        blob_key: r.try_get("blob_key").map_err(db_err)?,
        size: r.try_get::<i64, _>("size").map_err(db_err)? as u64,
        created_at: r.try_get("created_at").map_err(db_err)?,
        delay_reported: r.try_get("delay_reported").map_err(db_err)?,
        recipients: Vec::new(),
    })
}

fn recipient_row(r: &SqliteRow) -> StoreResult<(QueueId, QueuedRecipient)> {
    let state: String = r.try_get("state").map_err(db_err)?;
    let notify: String = r.try_get("notify").map_err(db_err)?;
    Ok((
        QueueId(r.try_get("message_id").map_err(db_err)?),
        QueuedRecipient {
            id: QueueRecipientId(r.try_get("id").map_err(db_err)?),
            address: r.try_get("address").map_err(db_err)?,
            domain: r.try_get("domain").map_err(db_err)?,
            orcpt: r.try_get("orcpt").map_err(db_err)?,
            notify: Notify::from_param(&notify),
            state: RecipientState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("queue: unknown state {state:?}")))?,
            attempts: r.try_get::<i64, _>("attempts").map_err(db_err)? as u32,
            next_attempt_at: r.try_get("next_attempt_at").map_err(db_err)?,
            last_reply: r.try_get("last_reply").map_err(db_err)?,
            remote_host: r.try_get("remote_host").map_err(db_err)?,
            tls: r.try_get("tls").map_err(db_err)?,
            reported: r.try_get("reported").map_err(db_err)?,
        },
    ))
}

/// Loads messages by a WHERE clause on `queue_messages` (with bound
/// parameters `binds`), each with all its recipients.
async fn load(pool: &SqlitePool, filter: &str, binds: &[i64]) -> StoreResult<Vec<QueuedMessage>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM queue_messages WHERE {filter} ORDER BY id");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(*b);
    }
    let mut messages: Vec<QueuedMessage> = q
        .fetch_all(pool)
        .await
        .map_err(db_err)?
        .iter()
        .map(message_row)
        .collect::<StoreResult<_>>()?;
    if messages.is_empty() {
        return Ok(messages);
    }
    let ids: Vec<String> = messages.iter().map(|m| m.id.0.to_string()).collect();
    // The ids are integers from the database itself, so inlining them is safe.
    let sql = format!(
        "SELECT {RECIPIENT_COLUMNS} FROM queue_recipients WHERE message_id IN ({}) ORDER BY id",
        ids.join(",")
    );
    for row in sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .map_err(db_err)?
    {
        let (message, recipient) = recipient_row(&row)?;
        if let Some(m) = messages.iter_mut().find(|m| m.id == message) {
            m.recipients.push(recipient);
        }
    }
    Ok(messages)
}

#[async_trait]
impl QueueStore for SqliteStore {
    async fn enqueue(&self, msg: NewQueuedMessage) -> StoreResult<QueueId> {
        if msg.recipients.is_empty() {
            return Err(StoreError::State(
                "a queued message needs a recipient".into(),
            ));
        }
        let size = i64::try_from(msg.size).map_err(|e| StoreError::State(e.to_string()))?;
        let mut tx = self.tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO queue_messages (sender_mailbox_id, mail_from, envid, ret, blob_key, size, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(msg.sender_mailbox.map(|m| m.0))
        .bind(&msg.mail_from)
        .bind(&msg.envid)
        .bind(ret_str(msg.ret))
        .bind(&msg.blob_key)
        .bind(size)
        .bind(msg.created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        for r in &msg.recipients {
            let domain = r
                .address
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
                .ok_or_else(|| {
                    StoreError::State(format!("recipient {:?} has no domain", r.address))
                })?;
            sqlx::query(
                "INSERT INTO queue_recipients (message_id, address, domain, orcpt, notify, state, next_attempt_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'queued', $6, $6)",
            )
            .bind(id)
            .bind(&r.address)
            .bind(domain)
            .bind(&r.orcpt)
            .bind(r.notify.as_param())
            .bind(msg.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(QueueId(id))
    }

    async fn due_messages(&self, now: UnixTime, limit: u32) -> StoreResult<Vec<QueuedMessage>> {
        load(
            &self.read,
            "id IN (SELECT message_id FROM queue_recipients WHERE state = 'queued' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2)",
            &[now, i64::from(limit)],
        )
        .await
    }

    async fn queued_messages(&self) -> StoreResult<Vec<QueuedMessage>> {
        load(&self.read, "1 = 1", &[]).await
    }

    async fn queued_message(&self, id: QueueId) -> StoreResult<Option<QueuedMessage>> {
        Ok(load(&self.read, "id = $1", &[id.0]).await?.pop())
    }

    async fn record_attempts(&self, outcomes: &[AttemptOutcome], at: UnixTime) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        for o in outcomes {
            sqlx::query(
                "UPDATE queue_recipients SET state = $1, next_attempt_at = $2, last_reply = $3, \
                 remote_host = $4, tls = $5, attempts = attempts + 1, updated_at = $6 \
                 WHERE id = $7 AND state = 'queued'",
            )
            .bind(o.state.as_str())
            .bind(o.next_attempt_at)
            .bind(&o.reply)
            .bind(&o.remote_host)
            .bind(&o.tls)
            .bind(at)
            .bind(o.recipient.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn mark_reported(
        &self,
        id: QueueId,
        recipients: &[QueueRecipientId],
        delay: bool,
    ) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        for r in recipients {
            sqlx::query(
                "UPDATE queue_recipients SET reported = 1 WHERE id = $1 AND message_id = $2",
            )
            .bind(r.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        if delay {
            sqlx::query("UPDATE queue_messages SET delay_reported = 1 WHERE id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn remove_finished(&self, id: QueueId) -> StoreResult<Option<String>> {
        let mut tx = self.tx().await?;
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM queue_recipients WHERE message_id = $1 AND (state = 'queued' OR reported = 0)",
        )
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if open > 0 {
            return Ok(None);
        }
        let key: Option<String> =
            sqlx::query_scalar("DELETE FROM queue_messages WHERE id = $1 RETURNING blob_key")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(key)
    }

    async fn retry_now(&self, id: QueueId, now: UnixTime) -> StoreResult<u32> {
        let mut tx = self.tx().await?;
        let done = sqlx::query(
            "UPDATE queue_recipients SET next_attempt_at = $1 WHERE message_id = $2 AND state = 'queued'",
        )
        .bind(now)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(u32::try_from(done.rows_affected()).unwrap_or(u32::MAX))
    }

    async fn mta_sts_policy(&self, domain: &str) -> StoreResult<Option<CachedPolicy>> {
        let row = sqlx::query(
            "SELECT domain, policy_id, policy, fetched_at, expires_at FROM mta_sts_policies WHERE domain = $1",
        )
        .bind(domain)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        row.map(|r| {
            Ok(CachedPolicy {
                domain: r.try_get("domain").map_err(db_err)?,
                policy_id: r.try_get("policy_id").map_err(db_err)?,
                policy: r.try_get("policy").map_err(db_err)?,
                fetched_at: r.try_get("fetched_at").map_err(db_err)?,
                expires_at: r.try_get("expires_at").map_err(db_err)?,
            })
        })
        .transpose()
    }

    async fn save_mta_sts_policy(&self, p: &CachedPolicy) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query(
            "INSERT INTO mta_sts_policies (domain, policy_id, policy, fetched_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain) DO UPDATE SET \
             policy_id = excluded.policy_id, policy = excluded.policy, \
             fetched_at = excluded.fetched_at, expires_at = excluded.expires_at",
        )
        .bind(&p.domain)
        .bind(&p.policy_id)
        .bind(&p.policy)
        .bind(p.fetched_at)
        .bind(p.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }
}
