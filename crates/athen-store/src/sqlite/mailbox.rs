//! Mailboxes: folders, messages with their UIDs and mod-sequences (IMAP
//! numbering kept here), flags, moves and expunges, import files, the
//! patient register and settings.

use super::*;

fn message_from_row(r: &SqliteRow) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        id: MessageId(r.try_get("id").map_err(db_err)?),
        mailbox_id: MailboxId(r.try_get("mailbox_id").map_err(db_err)?),
        folder_id: FolderId(r.try_get("folder_id").map_err(db_err)?),
        uid: u32::try_from(r.try_get::<i64, _>("uid").map_err(db_err)?)
            .map_err(|e| decode_err("uid", e))?,
        size: u64::try_from(r.try_get::<i64, _>("size").map_err(db_err)?)
            .map_err(|e| decode_err("size", e))?,
        received_at: r.try_get("received_at").map_err(db_err)?,
        arrival: r.try_get("arrival").map_err(db_err)?,
        flags: u32::try_from(r.try_get::<i64, _>("flags").map_err(db_err)?)
            .map_err(|e| decode_err("flags", e))?,
        modseq: u64::try_from(r.try_get::<i64, _>("modseq").map_err(db_err)?)
            .map_err(|e| decode_err("modseq", e))?,
        blob_key: r.try_get("blob_key").map_err(db_err)?,
        sealed_meta: r.try_get("sealed_meta").map_err(db_err)?,
    })
}

const MESSAGE_COLUMNS: &str = "id, mailbox_id, folder_id, uid, size, received_at, arrival, flags, modseq, blob_key, sealed_meta";

/// Files a message; `arrival` orders it among messages that arrived in
/// the same second (its spool entry's number, 0 if it was never spooled).
/// The folder's next UID and mod-sequence, taken in the caller's
/// transaction: taking them and bumping the folder's counters together
/// keeps UIDs strictly ascending (RFC 9051 §2.3.1.1) and mod-sequences
/// too (RFC 7162 §3).
async fn take_uid(
    tx: &mut Transaction<'static, Sqlite>,
    mailbox: MailboxId,
    folder: FolderId,
) -> Result<(i64, i64), StoreError> {
    sqlx::query_as(
        "UPDATE folders SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1 \
         WHERE id = $1 AND mailbox_id = $2 RETURNING uid_next - 1, highest_modseq",
    )
    .bind(folder.0)
    .bind(mailbox.0)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?
    .ok_or_else(|| StoreError::NotFound(format!("folder {folder} of mailbox {mailbox}")))
}

/// The folder's next mod-sequence, for a change that files nothing new.
async fn take_modseq(
    tx: &mut Transaction<'static, Sqlite>,
    mailbox: MailboxId,
    folder: FolderId,
) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "UPDATE folders SET highest_modseq = highest_modseq + 1 \
         WHERE id = $1 AND mailbox_id = $2 RETURNING highest_modseq",
    )
    .bind(folder.0)
    .bind(mailbox.0)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?
    .ok_or_else(|| StoreError::NotFound(format!("folder {folder} of mailbox {mailbox}")))
}

/// Remembers that `uid` left `folder` at `modseq` (QRESYNC's VANISHED).
async fn record_expunged(
    tx: &mut Transaction<'static, Sqlite>,
    folder: i64,
    uid: i64,
    modseq: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT OR REPLACE INTO expunged (folder_id, uid, modseq) VALUES ($1, $2, $3)")
        .bind(folder)
        .bind(uid)
        .bind(modseq)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Moves message `id` (now `uid` in `from`, which has already taken
/// mod-sequence `left` for this change) into `to` within `tx`: it takes
/// the next UID there (RFC 9051 §2.3.1.1), and the old UID is recorded as
/// gone from `from`. Returns the new UID.
async fn relocate(
    tx: &mut Transaction<'static, Sqlite>,
    mailbox: MailboxId,
    (id, from, uid, left): (MessageId, FolderId, u32, i64),
    to: FolderId,
) -> Result<u32, StoreError> {
    record_expunged(tx, from.0, i64::from(uid), left).await?;
    let (new_uid, modseq) = take_uid(tx, mailbox, to).await?;
    sqlx::query("UPDATE messages SET folder_id = $1, uid = $2, modseq = $3 WHERE id = $4 AND mailbox_id = $5")
        .bind(to.0)
        .bind(new_uid)
        .bind(modseq)
        .bind(id.0)
        .bind(mailbox.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    u32::try_from(new_uid).map_err(|e| decode_err("uid", e))
}

/// At most this many UIDs in one `IN (...)` list (SQLite's limit on
/// bound parameters is far above; the statement stays small).
const UID_CHUNK: usize = 500;

fn uid_list(uids: &[u32]) -> String {
    // Numbers only: safe to put into the SQL text.
    let mut out = String::with_capacity(uids.len() * 6);
    for (i, u) in uids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&u.to_string());
    }
    out
}

fn index_from_row(r: &SqliteRow) -> Result<IndexEntry, StoreError> {
    Ok(IndexEntry {
        id: MessageId(r.try_get("id").map_err(db_err)?),
        uid: u32::try_from(r.try_get::<i64, _>("uid").map_err(db_err)?)
            .map_err(|e| decode_err("uid", e))?,
        flags: u32::try_from(r.try_get::<i64, _>("flags").map_err(db_err)?)
            .map_err(|e| decode_err("flags", e))?,
        modseq: u64::try_from(r.try_get::<i64, _>("modseq").map_err(db_err)?)
            .map_err(|e| decode_err("modseq", e))?,
    })
}

/// The index rows of `uids` in a folder, within `tx`.
async fn index_rows(
    tx: &mut Transaction<'static, Sqlite>,
    mailbox: MailboxId,
    folder: FolderId,
    uids: &[u32],
) -> Result<Vec<IndexEntry>, StoreError> {
    let mut out = Vec::with_capacity(uids.len());
    for chunk in uids.chunks(UID_CHUNK) {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, uid, flags, modseq FROM messages WHERE mailbox_id = $1 AND folder_id = $2 \
             AND uid IN ({}) ORDER BY uid",
            uid_list(chunk)
        )))
        .bind(mailbox.0)
        .bind(folder.0)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?;
        for r in &rows {
            out.push(index_from_row(r)?);
        }
    }
    out.sort_by_key(|e| e.uid);
    Ok(out)
}

pub(super) async fn insert_message(
    tx: &mut Transaction<'static, Sqlite>,
    msg: NewStoredMessage,
    arrival: i64,
) -> Result<StoredMessage, StoreError> {
    let (uid, modseq) = take_uid(tx, msg.mailbox_id, msg.folder_id).await?;
    let import_file = msg.import_file;
    let row = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO messages (mailbox_id, folder_id, uid, size, received_at, flags, blob_key, sealed_meta, arrival, modseq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {MESSAGE_COLUMNS}"
    )))
    .bind(msg.mailbox_id.0)
    .bind(msg.folder_id.0)
    .bind(uid)
    .bind(i64::try_from(msg.size).map_err(|e| StoreError::State(e.to_string()))?)
    .bind(msg.received_at)
    .bind(i64::from(msg.flags))
    .bind(&msg.blob_key)
    .bind(&msg.sealed_meta)
    .bind(arrival)
    .bind(modseq)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    let m = message_from_row(&row)?;
    if import_file {
        sqlx::query(
            "INSERT INTO import_files (message_id, mailbox_id, state, changed_at) VALUES ($1, $2, 'waiting', $3)",
        )
        .bind(m.id.0)
        .bind(m.mailbox_id.0)
        .bind(m.received_at)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(m)
}

/// The message columns of [`MESSAGE_COLUMNS`] named by table, and an
/// import file's, for a join of the two.
const IMPORT_FILE_COLUMNS: &str = "messages.id, messages.mailbox_id, messages.folder_id, messages.uid, \
     messages.size, messages.received_at, messages.arrival, messages.flags, messages.modseq, messages.blob_key, \
     messages.sealed_meta, import_files.state, import_files.failures, import_files.changed_at";

fn import_file_from_row(r: &SqliteRow) -> Result<ImportFileRow, StoreError> {
    let state: String = r.try_get("state").map_err(db_err)?;
    Ok(ImportFileRow {
        message: message_from_row(r)?,
        state: ImportState::parse(&state)
            .ok_or_else(|| StoreError::State(format!("unknown import state {state:?}")))?,
        failures: u32::try_from(r.try_get::<i64, _>("failures").map_err(db_err)?)
            .map_err(|e| decode_err("failures", e))?,
        changed_at: r.try_get("changed_at").map_err(db_err)?,
    })
}

#[async_trait]
impl MailboxStore for SqliteStore {
    async fn mailbox(&self, id: MailboxId) -> StoreResult<Option<Mailbox>> {
        sqlx::query("SELECT id, account_id, public_key, created_at, retired_at FROM mailboxes WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?
            .map(|r| {
                Ok(Mailbox {
                    id: MailboxId(r.try_get("id").map_err(db_err)?),
                    account_id: AccountId(r.try_get("account_id").map_err(db_err)?),
                    public_key: r.try_get("public_key").map_err(db_err)?,
                    created_at: r.try_get("created_at").map_err(db_err)?,
                    retired_at: r.try_get("retired_at").map_err(db_err)?,
                })
            })
            .transpose()
    }

    async fn folders(&self, id: MailboxId) -> StoreResult<Vec<Folder>> {
        sqlx::query("SELECT id, mailbox_id, name, uid_validity, uid_next, highest_modseq FROM folders WHERE mailbox_id = $1 ORDER BY id")
            .bind(id.0)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(Folder {
                    id: FolderId(r.try_get("id").map_err(db_err)?),
                    mailbox_id: MailboxId(r.try_get("mailbox_id").map_err(db_err)?),
                    name: r.try_get("name").map_err(db_err)?,
                    uid_validity: u32::try_from(r.try_get::<i64, _>("uid_validity").map_err(db_err)?)
                        .map_err(|e| decode_err("uid_validity", e))?,
                    uid_next: u32::try_from(r.try_get::<i64, _>("uid_next").map_err(db_err)?)
                        .map_err(|e| decode_err("uid_next", e))?,
                    highest_modseq: u64::try_from(r.try_get::<i64, _>("highest_modseq").map_err(db_err)?)
                        .map_err(|e| decode_err("highest_modseq", e))?,
                })
            })
            .collect()
    }

    async fn add_message(&self, msg: NewStoredMessage) -> StoreResult<StoredMessage> {
        let mut tx = self.tx().await?;
        let m = insert_message(&mut tx, msg, 0).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(m)
    }

    async fn move_message(
        &self,
        mailbox: MailboxId,
        id: MessageId,
        to: FolderId,
    ) -> StoreResult<StoredMessage> {
        let mut tx = self.tx().await?;
        let (from, old_uid): (i64, i64) =
            sqlx::query_as("SELECT folder_id, uid FROM messages WHERE id = $1 AND mailbox_id = $2")
                .bind(id.0)
                .bind(mailbox.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("message {id} of mailbox {mailbox}"))
                })?;
        let from = FolderId(from);
        let left = take_modseq(&mut tx, mailbox, from).await?;
        let old_uid = u32::try_from(old_uid).map_err(|e| decode_err("uid", e))?;
        relocate(&mut tx, mailbox, (id, from, old_uid, left), to).await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let m = message_from_row(&row)?;
        tx.commit().await.map_err(db_err)?;
        Ok(m)
    }

    async fn delete_message(&self, mailbox: MailboxId, id: MessageId) -> StoreResult<String> {
        let mut tx = self.tx().await?;
        let (folder, uid, key): (i64, i64, String) = sqlx::query_as(
            "DELETE FROM messages WHERE id = $1 AND mailbox_id = $2 RETURNING folder_id, uid, blob_key",
        )
        .bind(id.0)
        .bind(mailbox.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("message {id} of mailbox {mailbox}")))?;
        let modseq = take_modseq(&mut tx, mailbox, FolderId(folder)).await?;
        record_expunged(&mut tx, folder, uid, modseq).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(key)
    }

    async fn folder_index(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
    ) -> StoreResult<Vec<IndexEntry>> {
        // Positional columns: this is the one query over a whole folder.
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, uid, flags, modseq FROM messages WHERE mailbox_id = $1 AND folder_id = $2 ORDER BY uid",
        )
        .bind(mailbox.0)
        .bind(folder.0)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(id, uid, flags, modseq)| {
                Ok(IndexEntry {
                    id: MessageId(id),
                    uid: u32::try_from(uid).map_err(|e| decode_err("uid", e))?,
                    flags: u32::try_from(flags).map_err(|e| decode_err("flags", e))?,
                    modseq: u64::try_from(modseq).map_err(|e| decode_err("modseq", e))?,
                })
            })
            .collect()
    }

    async fn folder_changes(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        since: u64,
    ) -> StoreResult<Vec<IndexEntry>> {
        sqlx::query(
            "SELECT id, uid, flags, modseq FROM messages WHERE mailbox_id = $1 AND folder_id = $2 \
             AND modseq > $3 ORDER BY uid",
        )
        .bind(mailbox.0)
        .bind(folder.0)
        .bind(i64::try_from(since).unwrap_or(i64::MAX))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(index_from_row)
        .collect()
    }

    async fn messages_in_uid_range(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        first: u32,
        last: u32,
    ) -> StoreResult<Vec<StoredMessage>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = $1 AND folder_id = $2 \
             AND uid BETWEEN $3 AND $4 ORDER BY uid"
        )))
        .bind(mailbox.0)
        .bind(folder.0)
        .bind(i64::from(first))
        .bind(i64::from(last))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(message_from_row)
        .collect()
    }

    async fn store_flags(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        uids: &[u32],
        change: FlagChange,
        unchanged_since: Option<u64>,
    ) -> StoreResult<FlagsStored> {
        let mut tx = self.tx().await?;
        let mut out = FlagsStored::default();
        let mut to_change = Vec::new();
        for e in index_rows(&mut tx, mailbox, folder, uids).await? {
            if unchanged_since.is_some_and(|since| e.modseq > since) {
                out.modified.push(e.uid);
            } else if change.apply(e.flags) != e.flags {
                to_change.push(e);
            }
        }
        if to_change.is_empty() {
            return Ok(out);
        }
        let modseq = take_modseq(&mut tx, mailbox, folder).await?;
        for mut e in to_change {
            e.flags = change.apply(e.flags);
            e.modseq = modseq as u64;
            sqlx::query("UPDATE messages SET flags = $1, modseq = $2 WHERE id = $3")
                .bind(i64::from(e.flags))
                .bind(modseq)
                .bind(e.id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            out.changed.push(e);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn move_messages(
        &self,
        mailbox: MailboxId,
        from: FolderId,
        uids: &[u32],
        to: FolderId,
    ) -> StoreResult<Vec<(u32, u32)>> {
        let mut tx = self.tx().await?;
        let rows = index_rows(&mut tx, mailbox, from, uids).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let left = take_modseq(&mut tx, mailbox, from).await?;
        let mut out = Vec::with_capacity(rows.len());
        for e in rows {
            let uid = relocate(&mut tx, mailbox, (e.id, from, e.uid, left), to).await?;
            out.push((e.uid, uid));
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn expunge(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        uids: &[u32],
    ) -> StoreResult<Vec<(u32, String)>> {
        let mut tx = self.tx().await?;
        let mut removed = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(UID_CHUNK) {
            let rows: Vec<(i64, String)> = sqlx::query_as(AssertSqlSafe(format!(
                "DELETE FROM messages WHERE mailbox_id = $1 AND folder_id = $2 AND uid IN ({}) \
                 RETURNING uid, blob_key",
                uid_list(chunk)
            )))
            .bind(mailbox.0)
            .bind(folder.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
            removed.extend(rows);
        }
        if removed.is_empty() {
            return Ok(Vec::new());
        }
        let modseq = take_modseq(&mut tx, mailbox, folder).await?;
        let mut out = Vec::with_capacity(removed.len());
        for (uid, key) in removed {
            record_expunged(&mut tx, folder.0, uid, modseq).await?;
            out.push((u32::try_from(uid).map_err(|e| decode_err("uid", e))?, key));
        }
        tx.commit().await.map_err(db_err)?;
        out.sort_by_key(|(u, _)| *u);
        Ok(out)
    }

    async fn expunged_since(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        since: u64,
    ) -> StoreResult<Vec<u32>> {
        let uids: Vec<i64> = sqlx::query_scalar(
            "SELECT e.uid FROM expunged e JOIN folders f ON f.id = e.folder_id \
             WHERE f.mailbox_id = $1 AND e.folder_id = $2 AND e.modseq > $3 ORDER BY e.uid",
        )
        .bind(mailbox.0)
        .bind(folder.0)
        .bind(i64::try_from(since).unwrap_or(i64::MAX))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        uids.into_iter()
            .map(|u| u32::try_from(u).map_err(|e| decode_err("uid", e)))
            .collect()
    }

    async fn mailbox_usage(&self, mailbox: MailboxId) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COALESCE(SUM(size), 0) FROM messages WHERE mailbox_id = $1")
                .bind(mailbox.0)
                .fetch_one(&self.read)
                .await
                .map_err(db_err)?;
        Ok(n.max(0) as u64)
    }

    async fn messages(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
    ) -> StoreResult<Vec<StoredMessage>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = $1 AND folder_id = $2 ORDER BY uid"
        )))
        .bind(mailbox.0)
        .bind(folder.0)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(message_from_row)
        .collect()
    }

    async fn messages_page(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        before: Option<PageCursor>,
        limit: u32,
    ) -> StoreResult<Vec<StoredMessage>> {
        let (at, arrival, uid) = before.map_or((i64::MAX, i64::MAX, u32::MAX), |c| {
            (c.received_at, c.arrival, c.uid)
        });
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = $1 AND folder_id = $2 \
             AND (received_at, arrival, uid) < ($3, $4, $5) \
             ORDER BY received_at DESC, arrival DESC, uid DESC LIMIT {limit}"
        )))
        // The limit is in the SQL, not bound, as in `search`.
        .bind(mailbox.0)
        .bind(folder.0)
        .bind(at)
        .bind(arrival)
        .bind(i64::from(uid))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(message_from_row)
        .collect()
    }

    async fn message_by_uid(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        uid: u32,
    ) -> StoreResult<Option<StoredMessage>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = $1 AND folder_id = $2 AND uid = $3"
        )))
        .bind(mailbox.0)
        .bind(folder.0)
        .bind(i64::from(uid))
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(message_from_row)
        .transpose()
    }

    async fn message(&self, id: MessageId) -> StoreResult<Option<StoredMessage>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| message_from_row(&r))
        .transpose()
    }

    async fn count_messages(&self, mailbox: MailboxId) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE mailbox_id = $1")
            .bind(mailbox.0)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?;
        Ok(n as u64)
    }

    async fn count_in_folder(&self, mailbox: MailboxId, folder: FolderId) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE mailbox_id = $1 AND folder_id = $2",
        )
        .bind(mailbox.0)
        .bind(folder.0)
        .fetch_one(&self.read)
        .await
        .map_err(db_err)?;
        Ok(n.max(0) as u64)
    }

    async fn patient_register(&self, mailbox: MailboxId) -> StoreResult<Vec<(PatientKey, u32)>> {
        sqlx::query("SELECT patient_key, number FROM patient_register WHERE mailbox_id = $1")
            .bind(mailbox.0)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                let key: Vec<u8> = r.try_get("patient_key").map_err(db_err)?;
                let number: i64 = r.try_get("number").map_err(db_err)?;
                Ok((
                    key.try_into().map_err(|_| {
                        StoreError::Corrupt(format!(
                            "mailbox {mailbox}: a patient key is not 32 bytes"
                        ))
                    })?,
                    u32::try_from(number).map_err(|_| {
                        StoreError::Corrupt(format!("mailbox {mailbox}: patient number {number}"))
                    })?,
                ))
            })
            .collect()
    }

    async fn add_patients(&self, mailbox: MailboxId, new: &[(PatientKey, u32)]) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        for (key, number) in new {
            let r = sqlx::query(
                "INSERT INTO patient_register (mailbox_id, patient_key, number) VALUES ($1, $2, $3)",
            )
            .bind(mailbox.0)
            .bind(key.as_slice())
            .bind(i64::from(*number))
            .execute(&mut *tx)
            .await;
            if let Err(e) = r {
                let taken = matches!(&e, sqlx::Error::Database(d) if d.is_unique_violation());
                return Err(if taken {
                    StoreError::State(format!("patient number {number} is taken already"))
                } else {
                    db_err(e)
                });
            }
        }
        tx.commit().await.map_err(db_err)
    }

    async fn import_files(
        &self,
        mailbox: MailboxId,
        states: &[ImportState],
        except: Option<FolderId>,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<ImportFileRow>> {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        // The states come from the enum, never from the request, and the
        // limit is a number: both are written into the SQL, so the
        // statement is prepared once per shape (see `search`).
        let states: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {IMPORT_FILE_COLUMNS} FROM import_files JOIN messages ON messages.id = import_files.message_id \
             WHERE import_files.mailbox_id = $1 AND import_files.state IN ({}) \
             AND import_files.message_id > $2 AND messages.folder_id != $3 \
             ORDER BY import_files.message_id LIMIT {limit}",
            states.join(", ")
        )))
        .bind(mailbox.0)
        .bind(after.map_or(0, |m| m.0))
        .bind(except.map_or(0, |f| f.0))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(import_file_from_row)
        .collect()
    }

    async fn import_file(
        &self,
        mailbox: MailboxId,
        message: MessageId,
    ) -> StoreResult<Option<ImportFileRow>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {IMPORT_FILE_COLUMNS} FROM import_files JOIN messages ON messages.id = import_files.message_id \
             WHERE import_files.mailbox_id = $1 AND import_files.message_id = $2"
        )))
        .bind(mailbox.0)
        .bind(message.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(import_file_from_row)
        .transpose()
    }

    async fn set_import_state(
        &self,
        mailbox: MailboxId,
        message: MessageId,
        from: ImportState,
        to: ImportState,
        refile: Option<(FolderId, FolderId)>,
        at: UnixTime,
    ) -> StoreResult<Option<ImportFileRow>> {
        let mut tx = self.tx().await?;
        let changed = sqlx::query(
            "UPDATE import_files SET state = $1, changed_at = $2, \
             failures = failures + CASE WHEN $1 = 'failed' THEN 1 ELSE 0 END \
             WHERE mailbox_id = $3 AND message_id = $4 AND state = $5",
        )
        .bind(to.as_str())
        .bind(at)
        .bind(mailbox.0)
        .bind(message.0)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        if let Some((was_in, to_folder)) = refile {
            let in_folder: Option<(i64, i64)> = sqlx::query_as(
                "SELECT folder_id, uid FROM messages WHERE id = $1 AND mailbox_id = $2",
            )
            .bind(message.0)
            .bind(mailbox.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            if let Some((folder, uid)) = in_folder
                && folder == was_in.0
            {
                let left = take_modseq(&mut tx, mailbox, was_in).await?;
                let uid = u32::try_from(uid).map_err(|e| decode_err("uid", e))?;
                relocate(&mut tx, mailbox, (message, was_in, uid, left), to_folder).await?;
            }
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {IMPORT_FILE_COLUMNS} FROM import_files JOIN messages ON messages.id = import_files.message_id \
             WHERE import_files.message_id = $1"
        )))
        .bind(message.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let row = import_file_from_row(&row)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(row))
    }

    async fn upload_sent(&self, mailbox: MailboxId, key: &[u8]) -> StoreResult<Option<UnixTime>> {
        sqlx::query_scalar("SELECT sent_at FROM sent_uploads WHERE mailbox_id = $1 AND key = $2")
            .bind(mailbox.0)
            .bind(key)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)
    }

    async fn record_upload(&self, mailbox: MailboxId, key: &[u8], at: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sent_uploads (mailbox_id, key, sent_at) VALUES ($1, $2, $3) \
             ON CONFLICT (mailbox_id, key) DO NOTHING",
        )
        .bind(mailbox.0)
        .bind(key)
        .bind(at)
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn settings(&self, mailbox: MailboxId) -> StoreResult<MailboxSettings> {
        let row = sqlx::query(
            "SELECT delivery_formats, receipt_policy FROM mailbox_settings WHERE mailbox_id = $1",
        )
        .bind(mailbox.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(MailboxSettings::default());
        };
        let formats: String = row.try_get("delivery_formats").map_err(db_err)?;
        let policy: String = row.try_get("receipt_policy").map_err(db_err)?;
        Ok(MailboxSettings {
            delivery_formats: formats
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
            receipt_policy: ReceiptPolicy::parse(&policy)
                .ok_or_else(|| decode_err("receipt policy", &policy))?,
        })
    }

    async fn set_settings(
        &self,
        mailbox: MailboxId,
        settings: &MailboxSettings,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mailbox_settings (mailbox_id, delivery_formats, receipt_policy) VALUES ($1, $2, $3) \
             ON CONFLICT (mailbox_id) DO UPDATE SET delivery_formats = excluded.delivery_formats, \
             receipt_policy = excluded.receipt_policy",
        )
        .bind(mailbox.0)
        .bind(settings.delivery_formats.join(","))
        .bind(settings.receipt_policy.as_str())
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
