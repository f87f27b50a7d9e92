//! The SQLite metadata store.
//!
//! SQLite in WAL mode with `synchronous = FULL`: a commit is on disk before
//! it returns, which is what "durable before 250" needs. All writes go
//! through one connection (SQLite allows one writer at a time; a single
//! writer connection avoids lock upgrade failures), reads through a small pool.
//!
//! New spool entries, written once per accepted message, are group-committed
//! ([`SpoolBatch`]): sessions that arrive while a commit is on its way to
//! disk share the next one, so the fsync that makes them durable is paid
//! once per batch rather than once per message. Each still gets its answer
//! only after its rows are on disk.

use async_trait::async_trait;
use athen_core::StoreError;
use athen_core::account::*;
use athen_core::clock::UnixTime;
use athen_core::directory::*;
use athen_core::ids::*;
use athen_core::mailbox::*;
use athen_core::store::*;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) write: SqlitePool,
    pub(crate) read: SqlitePool,
    spool_batch: std::sync::Arc<SpoolBatch>,
    /// Told of every spool commit (open mailboxes unspool at once).
    spool_listener: std::sync::Arc<ListenerSlot>,
}

#[derive(Default)]
struct ListenerSlot(std::sync::OnceLock<std::sync::Arc<dyn SpoolListener>>);

impl ListenerSlot {
    fn get(&self) -> Option<&std::sync::Arc<dyn SpoolListener>> {
        self.0.get()
    }
}

impl std::fmt::Debug for ListenerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "ListenerSlot(set)"
        } else {
            "ListenerSlot(none)"
        })
    }
}

/// Spool insertions waiting for the next group commit.
#[derive(Default)]
struct SpoolBatch {
    pending: std::sync::Mutex<Vec<PendingSpool>>,
    /// Held by the session committing a batch; the others wait here and
    /// find their rows committed, or commit the next batch themselves.
    leader: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SpoolBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpoolBatch")
    }
}

struct PendingSpool {
    entries: Vec<(MailboxId, String)>,
    size: i64,
    at: UnixTime,
    reply: tokio::sync::oneshot::Sender<StoreResult<Vec<SpoolId>>>,
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
    {
        return StoreError::Conflict(d.message().to_string());
    }
    StoreError::Io(e.to_string())
}

fn decode_err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl SqliteStore {
    /// Sets who is told of new spool entries (once; later calls are
    /// ignored, and say so in the log).
    pub fn listen_for_spool(&self, listener: std::sync::Arc<dyn SpoolListener>) {
        if self.spool_listener.0.set(listener).is_err() {
            tracing::warn!("a spool listener was already set; the new one is ignored");
        }
    }

    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Freed pages are zeroed, so that deleted rows (e.g. revoked
            // credentials) do not linger in the file.
            .pragma("secure_delete", "ON");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .map_err(|e| StoreError::Io(format!("open database {}: {e}", path.display())))?;
        crate::migrate::run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await
            .map_err(|e| StoreError::Io(format!("open database {}: {e}", path.display())))?;
        Ok(Self {
            write,
            read,
            spool_batch: Default::default(),
            spool_listener: Default::default(),
        })
    }

    /// Closes all connections, checkpointing the WAL.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

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

    /// A write transaction. BEGIN IMMEDIATE takes the write lock at once
    /// (waiting up to the busy timeout for another process, such as an
    /// `athen admin` command beside the server): a deferred transaction that
    /// reads first and writes later would instead fail at once with
    /// "database is locked" if another process wrote in between.
    pub(crate) async fn tx(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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

// ---- row decoding -------------------------------------------------------

fn account_from_row(r: &SqliteRow) -> Result<Account, StoreError> {
    let kind: String = r.try_get("kind").map_err(db_err)?;
    let status: String = r.try_get("status").map_err(db_err)?;
    Ok(Account {
        id: AccountId(r.try_get("id").map_err(db_err)?),
        kind: kind.parse().map_err(|e| decode_err("account kind", e))?,
        status: status
            .parse()
            .map_err(|e| decode_err("account status", e))?,
        address: r.try_get("address").map_err(db_err)?,
        name: r.try_get("name").map_err(db_err)?,
        entry_id: EntryId(r.try_get("entry_id").map_err(db_err)?),
        mailbox_id: MailboxId(r.try_get("mailbox_id").map_err(db_err)?),
        created_at: r.try_get("created_at").map_err(db_err)?,
        status_changed_at: r.try_get("status_changed_at").map_err(db_err)?,
        confirmed_at: r.try_get("confirmed_at").map_err(db_err)?,
        flagged_at: r.try_get("flagged_at").map_err(db_err)?,
    })
}

const ACCOUNT_COLUMNS: &str = "id, kind, status, address, name, entry_id, mailbox_id, created_at, \
     status_changed_at, confirmed_at, flagged_at";

fn entry_from_row(r: &SqliteRow, prefix: &str) -> Result<DirectoryEntry, StoreError> {
    let col = |c: &str| format!("{prefix}{c}");
    let role: String = r.try_get(col("role").as_str()).map_err(db_err)?;
    let details: String = r.try_get(col("details").as_str()).map_err(db_err)?;
    Ok(DirectoryEntry {
        id: EntryId(r.try_get(col("id").as_str()).map_err(db_err)?),
        account_id: AccountId(r.try_get(col("account_id").as_str()).map_err(db_err)?),
        role: role.parse().map_err(|e| decode_err("entry role", e))?,
        details: serde_json::from_str(&details).map_err(|e| decode_err("entry details", e))?,
    })
}

fn login_from_row(r: &SqliteRow) -> Result<Login, StoreError> {
    Ok(Login {
        id: LoginId(r.try_get("id").map_err(db_err)?),
        account_id: AccountId(r.try_get("account_id").map_err(db_err)?),
        name: r.try_get("name").map_err(db_err)?,
        staff_entry_id: r
            .try_get::<Option<i64>, _>("staff_entry_id")
            .map_err(db_err)?
            .map(EntryId),
        created_at: r.try_get("created_at").map_err(db_err)?,
        disabled_at: r.try_get("disabled_at").map_err(db_err)?,
    })
}

fn credential_from_row(r: &SqliteRow) -> Result<CredentialRecord, StoreError> {
    let kind: String = r.try_get("kind").map_err(db_err)?;
    Ok(CredentialRecord {
        id: CredentialId(r.try_get("id").map_err(db_err)?),
        login_id: LoginId(r.try_get("login_id").map_err(db_err)?),
        mailbox_id: MailboxId(r.try_get("mailbox_id").map_err(db_err)?),
        kind: kind.parse().map_err(|e| decode_err("credential kind", e))?,
        label: r.try_get("label").map_err(db_err)?,
        wrapped: r.try_get("wrapped").map_err(db_err)?,
        created_at: r.try_get("created_at").map_err(db_err)?,
        last_used_at: r.try_get("last_used_at").map_err(db_err)?,
        revoked_at: r.try_get("revoked_at").map_err(db_err)?,
        doors: Doors::from_bits(r.try_get("doors").map_err(db_err)?),
    })
}

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

/// The searchable copies of an entry's details.
struct EntryKeys {
    name: String,
    suburb: Option<String>,
    postcode: Option<String>,
    specialty: Option<String>,
    category: Option<String>,
}

/// The name an entry is searched and sorted by: its display name and
/// position ("Anna Müller Practice Manager").
fn searched_name(d: &EntryDetails) -> String {
    let mut name = d.display_name();
    if let Some(p) = &d.position {
        name.push(' ');
        name.push_str(p);
    }
    name
}

fn entry_keys(d: &EntryDetails) -> EntryKeys {
    EntryKeys {
        name: search_key(&searched_name(d)),
        suburb: d.suburb.as_deref().map(search_key),
        postcode: d.postcode.clone(),
        specialty: d.specialty.as_deref().map(search_key),
        category: d.category.map(|c| c.slug().to_string()),
    }
}

/// The longest beginning of a word kept as a key (migration 0011).
const WORD_EDGE: usize = 6;

/// The keys a word is found by: its beginnings of up to [`WORD_EDGE`]
/// letters.
fn word_keys(word: &str) -> impl Iterator<Item = &str> + '_ {
    word.char_indices()
        .map(|(i, c)| &word[..i + c.len_utf8()])
        .take(WORD_EDGE)
}

/// The key a search for `word` reads: its first [`WORD_EDGE`] letters.
fn search_key_of(word: &str) -> &str {
    word_keys(word).last().unwrap_or(word)
}

/// Writes the keys an entry is found by (migration 0011) in place of
/// those it had: from the words of its name and of its specialty.
async fn index_entry_words(
    conn: &mut SqliteConnection,
    id: i64,
    account: i64,
    d: &EntryDetails,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM directory_words WHERE entry_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let name = searched_name(d);
    let mut words = Vec::new();
    for (field, text) in [
        ("name", Some(name.clone())),
        ("specialty", d.specialty.clone()),
    ] {
        for word in text.as_deref().map(search_words).unwrap_or_default() {
            words.extend(word_keys(&word).map(|k| (field, k.to_string(), word.clone())));
        }
    }
    if words.is_empty() {
        return Ok(());
    }
    let name_key = search_key(&name);
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT INTO directory_words (field, word, whole, entry_id, name_key, account_id) ",
    );
    q.push_values(words, |mut row, (field, word, whole)| {
        row.push_bind(field)
            .push_bind(word)
            .push_bind(whole)
            .push_bind(id)
            .push_bind(name_key.clone())
            .push_bind(account);
    });
    q.build().execute(&mut *conn).await.map_err(db_err)?;
    // The place as the entry's triggers (migration 0010) have set it.
    sqlx::query(
        "UPDATE directory_words SET (place_suburb, place_postcode, place_category) = \
         (SELECT place_suburb, place_postcode, place_category FROM directory_entries WHERE id = $1) \
         WHERE entry_id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Indexes the words of every entry: migration 0011, in its transaction.
pub(crate) async fn index_every_entry(
    tx: &mut Transaction<'static, Sqlite>,
) -> Result<(), StoreError> {
    let rows: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT id, account_id, details FROM directory_entries")
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err)?;
    for (id, account, json) in rows {
        let details: EntryDetails =
            serde_json::from_str(&json).map_err(|e| decode_err("directory entry details", e))?;
        index_entry_words(tx, id, account, &details).await?;
    }
    Ok(())
}

async fn insert_entry(
    tx: &mut Transaction<'static, Sqlite>,
    account: AccountId,
    role: EntryRole,
    details: &EntryDetails,
) -> Result<EntryId, StoreError> {
    let keys = entry_keys(details);
    let json = serde_json::to_string(details).map_err(|e| StoreError::Io(e.to_string()))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO directory_entries (account_id, role, details, name_key, suburb_key, postcode, specialty_key, category) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(account.0)
    .bind(role.as_str())
    .bind(json)
    .bind(keys.name)
    .bind(keys.suburb)
    .bind(keys.postcode)
    .bind(keys.specialty)
    .bind(keys.category)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    index_entry_words(tx, id, account.0, details).await?;
    for p in &details.provider_numbers {
        sqlx::query("INSERT INTO provider_numbers (entry_id, number) VALUES ($1, $2)")
            .bind(id)
            .bind(p)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    Ok(EntryId(id))
}

async fn insert_mailbox(
    tx: &mut Transaction<'static, Sqlite>,
    account: AccountId,
    public_key: &str,
    at: UnixTime,
) -> Result<MailboxId, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO mailboxes (account_id, public_key, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(account.0)
    .bind(public_key)
    .bind(at)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    // UIDVALIDITY must change if a folder is ever recreated (RFC 9051 §2.3.1.1);
    // the creation time (plus position) is a simple strictly-new value.
    for (i, folder) in SpecialFolder::ALL.iter().enumerate() {
        sqlx::query(
            "INSERT INTO folders (mailbox_id, name, uid_validity, uid_next) VALUES ($1, $2, $3, 1)",
        )
        .bind(id)
        .bind(folder.name())
        .bind((at as u32).wrapping_add(i as u32) as i64)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(MailboxId(id))
}

async fn insert_credential(
    tx: &mut Transaction<'static, Sqlite>,
    login: LoginId,
    mailbox: MailboxId,
    c: &NewCredential,
    at: UnixTime,
) -> Result<CredentialId, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO credentials (login_id, mailbox_id, kind, label, wrapped, created_at, doors) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(login.0)
    .bind(mailbox.0)
    .bind(c.kind.as_str())
    .bind(&c.label)
    .bind(&c.wrapped)
    .bind(at)
    .bind(i64::from(c.doors.bits()))
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(CredentialId(id))
}

async fn insert_event(
    tx: &mut Transaction<'static, Sqlite>,
    e: &AccountEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO account_events (account_id, at, actor, event, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(e.account_id.0)
    .bind(e.at)
    .bind(&e.actor)
    .bind(&e.event)
    .bind(&e.detail)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(&self, new: NewAccount) -> StoreResult<CreatedAccount> {
        let mut tx = self.tx().await?;
        let account_id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (kind, status, address, name, created_at, status_changed_at, confirmation_hash) \
             VALUES ($1, 'provisional', $2, $3, $4, $4, $5) RETURNING id",
        )
        .bind(new.kind.as_str())
        .bind(&new.address)
        .bind(&new.name)
        .bind(new.created_at)
        .bind(&new.confirmation_hash)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("the address {} is already in use", new.address))
            }
            other => other,
        })?;
        let account = AccountId(account_id);
        let role = match new.kind {
            AccountKind::Organisation => EntryRole::Organisation,
            AccountKind::Individual => EntryRole::Individual,
        };
        let entry = insert_entry(&mut tx, account, role, &new.details).await?;
        let mailbox = insert_mailbox(&mut tx, account, &new.public_key, new.created_at).await?;
        sqlx::query("UPDATE accounts SET entry_id = $1, mailbox_id = $2 WHERE id = $3")
            .bind(entry.0)
            .bind(mailbox.0)
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let login_id: i64 = sqlx::query_scalar(
            "INSERT INTO logins (account_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(account_id)
        .bind(&new.address)
        .bind(new.created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("the login name {} is already in use", new.address))
            }
            other => other,
        })?;
        for c in &new.credentials {
            insert_credential(&mut tx, LoginId(login_id), mailbox, c, new.created_at).await?;
        }
        insert_event(
            &mut tx,
            &AccountEvent {
                account_id: account,
                at: new.created_at,
                actor: "system".into(),
                event: "created".into(),
                detail: format!("{} account created, provisional", new.kind),
            },
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(CreatedAccount {
            account_id: account,
            entry_id: entry,
            mailbox_id: mailbox,
            login_id: LoginId(login_id),
        })
    }

    async fn account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| account_from_row(&r))
        .transpose()
    }

    async fn account_of_live_login(&self, login: LoginId) -> StoreResult<Option<Account>> {
        // One query for every signed-in request: the account through its
        // login, only while the login is on.
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = \
             (SELECT account_id FROM logins WHERE id = $1 AND disabled_at IS NULL)"
        )))
        .bind(login.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| account_from_row(&r))
        .transpose()
    }

    async fn account_by_address(&self, address: &str) -> StoreResult<Option<Account>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE address = $1"
        )))
        .bind(address)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| account_from_row(&r))
        .transpose()
    }

    async fn domain_in_use(&self, domain: &str) -> StoreResult<bool> {
        // Addresses are stored lower case; the domain is what follows the last '@'.
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE address LIKE $1 ESCAPE '\\'")
                .bind(format!("%@{}", like_escape(domain)))
                .fetch_one(&self.read)
                .await
                .map_err(db_err)?;
        Ok(n > 0)
    }

    async fn list_accounts(&self, filter: &AccountFilter) -> StoreResult<Vec<Account>> {
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE 1=1"
        ));
        if let Some(s) = filter.status {
            q.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(k) = filter.kind {
            q.push(" AND kind = ").push_bind(k.as_str());
        }
        if let Some(t) = filter.provisional_before {
            q.push(" AND status = 'provisional' AND created_at < ")
                .push_bind(t);
        }
        q.push(" ORDER BY id");
        q.build()
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(account_from_row)
            .collect()
    }

    async fn set_status(
        &self,
        id: AccountId,
        status: AccountStatus,
        event: AccountEvent,
    ) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        let confirmed = if status == AccountStatus::Confirmed {
            Some(event.at)
        } else {
            None
        };
        let n = sqlx::query(
            "UPDATE accounts SET status = $1, status_changed_at = $2, \
             confirmed_at = COALESCE(confirmed_at, $3), \
             flagged_at = CASE WHEN $1 = 'provisional' THEN flagged_at ELSE NULL END \
             WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(event.at)
        .bind(confirmed)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("account {id}")));
        }
        if status != AccountStatus::Provisional {
            // The code has done its work (or never will): it is not kept.
            sqlx::query("DELETE FROM welcome_letters WHERE account_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn flag_account(&self, id: AccountId, event: AccountEvent) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query("UPDATE accounts SET flagged_at = $1 WHERE id = $2 AND flagged_at IS NULL")
            .bind(event.at)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn record_event(&self, event: AccountEvent) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn events(&self, id: AccountId) -> StoreResult<Vec<AccountEvent>> {
        sqlx::query("SELECT account_id, at, actor, event, detail FROM account_events WHERE account_id = $1 ORDER BY id")
            .bind(id.0)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(AccountEvent {
                    account_id: AccountId(r.try_get("account_id").map_err(db_err)?),
                    at: r.try_get("at").map_err(db_err)?,
                    actor: r.try_get("actor").map_err(db_err)?,
                    event: r.try_get("event").map_err(db_err)?,
                    detail: r.try_get("detail").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn operator_events(&self, limit: u32) -> StoreResult<Vec<(AccountEvent, String)>> {
        sqlx::query(
            "SELECT e.account_id, e.at, e.actor, e.event, e.detail, a.address \
             FROM account_events e JOIN accounts a ON a.id = e.account_id \
             WHERE e.actor LIKE 'operator:%' OR e.actor = 'admin-cli' \
             ORDER BY e.id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok((
                AccountEvent {
                    account_id: AccountId(r.try_get("account_id").map_err(db_err)?),
                    at: r.try_get("at").map_err(db_err)?,
                    actor: r.try_get("actor").map_err(db_err)?,
                    event: r.try_get("event").map_err(db_err)?,
                    detail: r.try_get("detail").map_err(db_err)?,
                },
                r.try_get("address").map_err(db_err)?,
            ))
        })
        .collect()
    }

    async fn confirmation_hash(&self, id: AccountId) -> StoreResult<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT confirmation_hash FROM accounts WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)
            .map(Option::flatten)
    }

    async fn set_welcome_letter(
        &self,
        id: AccountId,
        confirmation_hash: Vec<u8>,
        sealed_code: Vec<u8>,
        event: AccountEvent,
    ) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "UPDATE accounts SET confirmation_hash = $1 WHERE id = $2 AND status = 'provisional'",
        )
        .bind(&confirmation_hash)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("provisional account {id}")));
        }
        sqlx::query(
            "INSERT INTO welcome_letters (account_id, sealed_code, created_at, posted_at) \
             VALUES ($1, $2, $3, NULL) ON CONFLICT (account_id) DO UPDATE SET \
             sealed_code = excluded.sealed_code, created_at = excluded.created_at, posted_at = NULL",
        )
        .bind(id.0)
        .bind(&sealed_code)
        .bind(event.at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn welcome_letters(&self, with_posted: bool) -> StoreResult<Vec<WelcomeLetter>> {
        let rows = sqlx::query(
            "SELECT w.account_id, w.sealed_code, w.created_at, w.posted_at FROM welcome_letters w \
             JOIN accounts a ON a.id = w.account_id \
             WHERE a.status = 'provisional' AND ($1 OR w.posted_at IS NULL) \
             ORDER BY w.created_at, w.account_id",
        )
        .bind(with_posted)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(WelcomeLetter {
                    account_id: AccountId(r.try_get("account_id").map_err(db_err)?),
                    sealed_code: r.try_get("sealed_code").map_err(db_err)?,
                    created_at: r.try_get("created_at").map_err(db_err)?,
                    posted_at: r.try_get("posted_at").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn mark_letter_posted(&self, id: AccountId, event: AccountEvent) -> StoreResult<bool> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "UPDATE welcome_letters SET posted_at = $1 WHERE account_id = $2 AND posted_at IS NULL",
        )
        .bind(event.at)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn replace_mailbox(
        &self,
        id: AccountId,
        public_key: String,
        credentials: Vec<NewCredential>,
        event: AccountEvent,
    ) -> StoreResult<MailboxId> {
        let mut tx = self.tx().await?;
        let row = sqlx::query("SELECT address, mailbox_id FROM accounts WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("account {id}")))?;
        let address: String = row.try_get("address").map_err(db_err)?;
        let old: i64 = row.try_get("mailbox_id").map_err(db_err)?;
        sqlx::query("UPDATE mailboxes SET retired_at = $1 WHERE id = $2")
            .bind(event.at)
            .bind(old)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "UPDATE credentials SET revoked_at = $1 WHERE mailbox_id = $2 AND revoked_at IS NULL",
        )
        .bind(event.at)
        .bind(old)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let mailbox = insert_mailbox(&mut tx, id, &public_key, event.at).await?;
        sqlx::query("UPDATE accounts SET mailbox_id = $1 WHERE id = $2")
            .bind(mailbox.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // Staff logins lose their credentials with the old mailbox; the
        // organisation gives them new ones.
        let owner: i64 =
            sqlx::query_scalar("SELECT id FROM logins WHERE account_id = $1 AND name = $2")
                .bind(id.0)
                .bind(&address)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        for c in &credentials {
            insert_credential(&mut tx, LoginId(owner), mailbox, c, event.at).await?;
        }
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(mailbox)
    }
}

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn entry(&self, id: EntryId) -> StoreResult<Option<DirectoryEntry>> {
        sqlx::query("SELECT id, account_id, role, details FROM directory_entries WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?
            .map(|r| entry_from_row(&r, ""))
            .transpose()
    }

    async fn entries_of_account(&self, id: AccountId) -> StoreResult<Vec<DirectoryEntry>> {
        sqlx::query("SELECT id, account_id, role, details FROM directory_entries WHERE account_id = $1 ORDER BY id")
            .bind(id.0)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| entry_from_row(r, ""))
            .collect()
    }

    async fn add_entry(
        &self,
        account: AccountId,
        role: EntryRole,
        details: EntryDetails,
    ) -> StoreResult<EntryId> {
        let mut tx = self.tx().await?;
        let id = insert_entry(&mut tx, account, role, &details).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(id)
    }

    async fn update_entry(&self, id: EntryId, details: EntryDetails) -> StoreResult<()> {
        let keys = entry_keys(&details);
        let json = serde_json::to_string(&details).map_err(|e| StoreError::Io(e.to_string()))?;
        let mut tx = self.tx().await?;
        let account: Option<i64> = sqlx::query_scalar(
            "UPDATE directory_entries SET details = $1, name_key = $2, suburb_key = $3, postcode = $4, \
             specialty_key = $5, category = $6 WHERE id = $7 RETURNING account_id",
        )
        .bind(json)
        .bind(keys.name)
        .bind(keys.suburb)
        .bind(keys.postcode)
        .bind(keys.specialty)
        .bind(keys.category)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(account) = account else {
            return Err(StoreError::NotFound(format!("directory entry {id}")));
        };
        index_entry_words(&mut tx, id.0, account, &details).await?;
        sqlx::query("DELETE FROM provider_numbers WHERE entry_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for p in &details.provider_numbers {
            sqlx::query("INSERT INTO provider_numbers (entry_id, number) VALUES ($1, $2)")
                .bind(id.0)
                .bind(p)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn remove_entry(&self, id: EntryId) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM directory_entries WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        match role.as_deref() {
            None => return Err(StoreError::NotFound(format!("directory entry {id}"))),
            Some("staff") => {}
            Some(_) => {
                return Err(StoreError::State(
                    "only staff entries can be removed; close the account instead".into(),
                ));
            }
        }
        let logins: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM logins WHERE staff_entry_id = $1 AND disabled_at IS NULL",
        )
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if logins > 0 {
            return Err(StoreError::State(
                "this staff member still has a login; disable it first".into(),
            ));
        }
        sqlx::query("UPDATE logins SET staff_entry_id = NULL WHERE staff_entry_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM directory_entries WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn search(&self, query: &DirectoryQuery) -> StoreResult<Vec<DirectoryHit>> {
        // e: the matching entry; o: the account's own entry (the organisation,
        // for staff). Place and category are the organisation's when a staff
        // entry has none of its own (migration 0010 keeps them in `place_*`).
        //
        // Each word typed must begin a word of the name or specialty
        // (migration 0011): its first six letters are one key of the words
        // index; a longer word must also begin the whole word in the row
        // (from it up to the last string it begins: no word has U+10FFFF,
        // the greatest code point). The first word's rows drive the
        // search: they carry the entry's name, account and place, so the
        // candidates are checked without being read, in name order, and
        // the walk stops at the page's end; the other words and provider
        // numbers are sets of entry ids. Without a word, the entries are
        // walked in name order through the place or category index.
        // `+a.status` keeps the planner from starting at the accounts.
        //
        // The page's entries are chosen first by id and name alone, and only
        // those are read whole.
        let typed = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(typed_words)
        };
        let mut words: Vec<(&str, String)> = Vec::new();
        for (field, text) in [("name", &query.name), ("specialty", &query.specialty)] {
            if let Some(w) = typed(text) {
                if w.is_empty() {
                    // Typed, but nothing to look for ("%%"): nothing is found.
                    return Ok(Vec::new());
                }
                // Every word must appear, in any order: "citizen jane"
                // finds "Dr Jane Citizen".
                words.extend(w.into_iter().take(8).map(|w| (field, w)));
            }
        }
        let place = query
            .place
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(search_key);
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT e.id AS e_id, e.account_id AS e_account_id, e.role AS e_role, e.details AS e_details, \
             o.id AS o_id, o.account_id AS o_account_id, o.role AS o_role, o.details AS o_details, \
             a.address, a.status FROM (",
        );
        // A word is found through its first WORD_EDGE letters; a longer one
        // must also begin the whole word.
        let word_key = |q: &mut QueryBuilder<Sqlite>, alias: &str, field: &str, word: &str| {
            q.push(format!(" AND {alias}.field = "))
                .push_bind(field.to_string())
                .push(format!(" AND {alias}.word = "))
                .push_bind(search_key_of(word).to_string());
            if word.chars().count() > WORD_EDGE {
                q.push(format!(" AND {alias}.whole >= "))
                    .push_bind(word.to_string())
                    .push(format!(" AND {alias}.whole < "))
                    .push_bind(format!("{word}\u{10FFFF}"));
            }
        };
        let mut words = words.into_iter();
        // A postcode is four digits, a suburb never is.
        let place = place.map(|key| {
            let column = if key.chars().all(|c| c.is_ascii_digit()) {
                "place_postcode"
            } else {
                "place_suburb"
            };
            (column, key)
        });
        let (t, id, name) = if let Some((field, word)) = words.next() {
            q.push(
                "SELECT w.entry_id AS hit_id, w.name_key AS hit_name FROM directory_words w \
                 JOIN accounts a ON a.id = w.account_id WHERE 1=1",
            );
            word_key(&mut q, "w", field, &word);
            ("w", "w.entry_id", "w.name_key")
        } else {
            q.push(
                "SELECT e.id AS hit_id, e.name_key AS hit_name FROM directory_entries e \
                 JOIN accounts a ON a.id = e.account_id WHERE 1=1",
            );
            ("e", "e.id", "e.name_key")
        };
        if !query.include_unconfirmed {
            q.push(" AND +a.status = 'confirmed'");
        }
        for (field, word) in words {
            q.push(format!(
                " AND {id} IN (SELECT x.entry_id FROM directory_words x WHERE 1=1"
            ));
            word_key(&mut q, "x", field, &word);
            q.push(")");
        }
        if let Some(p) = &query.provider_number {
            let p = athen_core::identifiers::provider_number(p)
                .unwrap_or_else(|_| p.trim().to_ascii_uppercase());
            q.push(format!(
                " AND {id} IN (SELECT entry_id FROM provider_numbers WHERE number = "
            ))
            .push_bind(p)
            .push(")");
        }
        if let Some((column, key)) = place {
            q.push(format!(" AND {t}.{column} = ")).push_bind(key);
        }
        if let Some(c) = query.category {
            q.push(format!(" AND {t}.place_category = "))
                .push_bind(c.slug());
        }
        let limit = if query.limit == 0 {
            50
        } else {
            query.limit.min(500)
        };
        if t == "w" {
            // Two words of one entry can share a key ("Lee Leeson"):
            // GROUP BY keeps one row, walking the key's rows in the index's
            // (name) order without sorting them.
            q.push(format!(" GROUP BY {name}, {id}"));
        }
        // The limit is written into the SQL, not bound: SQLite plans with
        // the value of a bound LIMIT, so it would prepare the statement
        // again each time it is bound (SQLITE_STMTSTATUS_REPREPARE).
        q.push(format!(" ORDER BY {name}, {id} LIMIT {limit}"))
            .push(
                ") hit JOIN directory_entries e ON e.id = hit.hit_id \
                 JOIN accounts a ON a.id = e.account_id \
                 JOIN directory_entries o ON o.id = a.entry_id \
                 ORDER BY hit.hit_name, hit.hit_id",
            );
        let rows = q.build().fetch_all(&self.read).await.map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let entry = entry_from_row(r, "e_")?;
                let org = entry_from_row(r, "o_")?;
                let status: String = r.try_get("status").map_err(db_err)?;
                Ok(DirectoryHit {
                    organisation: (entry.role == EntryRole::Staff).then_some(org),
                    entry,
                    address: r.try_get("address").map_err(db_err)?,
                    account_status: status
                        .parse()
                        .map_err(|e| decode_err("account status", e))?,
                })
            })
            .collect()
    }
}

const LOGIN_COLUMNS: &str = "id, account_id, name, staff_entry_id, created_at, disabled_at";
const CREDENTIAL_COLUMNS: &str =
    "id, login_id, mailbox_id, kind, label, wrapped, created_at, last_used_at, revoked_at, doors";

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn login_by_name(&self, name: &str) -> StoreResult<Option<Login>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {LOGIN_COLUMNS} FROM logins WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| login_from_row(&r))
        .transpose()
    }

    async fn login(&self, id: LoginId) -> StoreResult<Option<Login>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {LOGIN_COLUMNS} FROM logins WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| login_from_row(&r))
        .transpose()
    }

    async fn logins_of_account(&self, id: AccountId) -> StoreResult<Vec<Login>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {LOGIN_COLUMNS} FROM logins WHERE account_id = $1 ORDER BY id"
        )))
        .bind(id.0)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(login_from_row)
        .collect()
    }

    async fn add_login(
        &self,
        account: AccountId,
        name: &str,
        staff_entry: Option<EntryId>,
        credential: NewCredential,
        at: UnixTime,
    ) -> StoreResult<(LoginId, CredentialId)> {
        let mut tx = self.tx().await?;
        let mailbox: i64 = sqlx::query_scalar("SELECT mailbox_id FROM accounts WHERE id = $1")
            .bind(account.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
        let login: i64 = sqlx::query_scalar(
            "INSERT INTO logins (account_id, name, staff_entry_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(account.0)
        .bind(name)
        .bind(staff_entry.map(|e| e.0))
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("the login name {name} is already in use")),
            other => other,
        })?;
        let cred =
            insert_credential(&mut tx, LoginId(login), MailboxId(mailbox), &credential, at).await?;
        tx.commit().await.map_err(db_err)?;
        Ok((LoginId(login), cred))
    }

    async fn disable_login(&self, id: LoginId, at: UnixTime) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query("UPDATE logins SET disabled_at = COALESCE(disabled_at, $1) WHERE id = $2")
            .bind(at)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "UPDATE credentials SET revoked_at = $1 WHERE login_id = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn live_credentials(&self, login: LoginId) -> StoreResult<Vec<CredentialRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT c.{} FROM credentials c JOIN logins l ON l.id = c.login_id \
             JOIN accounts a ON a.id = l.account_id \
             WHERE c.login_id = $1 AND c.revoked_at IS NULL AND l.disabled_at IS NULL \
             AND c.mailbox_id = a.mailbox_id ORDER BY c.id",
            CREDENTIAL_COLUMNS.replace(", ", ", c.")
        )))
        .bind(login.0)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(credential_from_row)
        .collect()
    }

    async fn credential(&self, id: CredentialId) -> StoreResult<Option<CredentialRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| credential_from_row(&r))
        .transpose()
    }

    async fn credentials_of_account(&self, id: AccountId) -> StoreResult<Vec<CredentialRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT c.{} FROM credentials c JOIN logins l ON l.id = c.login_id WHERE l.account_id = $1 ORDER BY c.id",
            CREDENTIAL_COLUMNS.replace(", ", ", c.")
        )))
        .bind(id.0)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(credential_from_row)
        .collect()
    }

    async fn add_credential(
        &self,
        login: LoginId,
        credential: NewCredential,
        at: UnixTime,
    ) -> StoreResult<CredentialId> {
        let mut tx = self.tx().await?;
        let mailbox: i64 = sqlx::query_scalar(
            "SELECT a.mailbox_id FROM logins l JOIN accounts a ON a.id = l.account_id WHERE l.id = $1",
        )
        .bind(login.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("login {login}")))?;
        let id = insert_credential(&mut tx, login, MailboxId(mailbox), &credential, at).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(id)
    }

    async fn rewrap_credential(&self, id: CredentialId, wrapped: Vec<u8>) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        let n =
            sqlx::query("UPDATE credentials SET wrapped = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(wrapped)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("credential {id}")));
        }
        tx.commit().await.map_err(db_err)
    }

    async fn revoke_credential(&self, id: CredentialId, at: UnixTime) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "UPDATE credentials SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
        )
        .bind(at)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("credential {id}")));
        }
        tx.commit().await.map_err(db_err)
    }

    async fn touch_credential(&self, id: CredentialId, at: UnixTime) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query("UPDATE credentials SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn totp(&self, login: LoginId) -> StoreResult<Option<TotpRecord>> {
        let row: Option<(i64, Vec<u8>, i64, i64)> = sqlx::query_as(
            "SELECT mailbox_id, sealed_key, last_step, created_at FROM login_totp WHERE login_id = $1",
        )
        .bind(login.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        Ok(
            row.map(|(mailbox, sealed_key, last_step, created_at)| TotpRecord {
                login_id: login,
                mailbox_id: MailboxId(mailbox),
                sealed_key,
                last_step,
                created_at,
            }),
        )
    }

    async fn set_totp(&self, r: TotpRecord) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query(
            "INSERT INTO login_totp (login_id, mailbox_id, sealed_key, last_step, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (login_id) DO UPDATE SET mailbox_id = excluded.mailbox_id, sealed_key = excluded.sealed_key,
             last_step = excluded.last_step, created_at = excluded.created_at",
        )
        .bind(r.login_id.0)
        .bind(r.mailbox_id.0)
        .bind(r.sealed_key)
        .bind(r.last_step)
        .bind(r.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn remove_totp(&self, login: LoginId) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query("DELETE FROM login_totp WHERE login_id = $1")
            .bind(login.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn use_totp_step(&self, login: LoginId, step: i64) -> StoreResult<bool> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "UPDATE login_totp SET last_step = $1 WHERE login_id = $2 AND last_step < $1",
        )
        .bind(step)
        .bind(login.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(n == 1)
    }
}

const MESSAGE_COLUMNS: &str = "id, mailbox_id, folder_id, uid, size, received_at, arrival, flags, modseq, blob_key, sealed_meta";

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

async fn insert_message(
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
        crate::sqlite_audit::append_in_tx(&mut tx, mailbox, audit, seal).await?;
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
        crate::sqlite_audit::append_in_tx(&mut tx, mailbox, audit, seal).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl OperatorStore for SqliteStore {
    async fn operator_by_login(&self, login: &str) -> StoreResult<Option<Operator>> {
        sqlx::query("SELECT id, name, login, verifier, totp_sealed, created_at FROM operators WHERE login = $1")
            .bind(login)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?
            .map(|r| {
                Ok(Operator {
                    id: OperatorId(r.try_get("id").map_err(db_err)?),
                    name: r.try_get("name").map_err(db_err)?,
                    login: r.try_get("login").map_err(db_err)?,
                    verifier: r.try_get("verifier").map_err(db_err)?,
                    totp_sealed: r.try_get("totp_sealed").map_err(db_err)?,
                    created_at: r.try_get("created_at").map_err(db_err)?,
                })
            })
            .transpose()
    }

    async fn set_operator_totp(&self, id: OperatorId, sealed: Option<Vec<u8>>) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE operators SET totp_sealed = $1, totp_last_step = 0 WHERE id = $2")
                .bind(sealed)
                .bind(id.0)
                .execute(&self.write)
                .await
                .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("operator {}", id.0)));
        }
        Ok(())
    }

    async fn use_operator_totp_step(&self, id: OperatorId, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE operators SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
        )
        .bind(step)
        .bind(id.0)
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_operators(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM operators")
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?;
        Ok(n as u64)
    }

    async fn add_operator(
        &self,
        name: &str,
        login: &str,
        verifier: Vec<u8>,
        at: UnixTime,
    ) -> StoreResult<OperatorId> {
        let mut tx = self.tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO operators (name, login, verifier, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(login)
        .bind(verifier)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("the operator login {login} is already in use")),
            other => other,
        })?;
        tx.commit().await.map_err(db_err)?;
        Ok(OperatorId(id))
    }

    async fn set_bootstrap_token(&self, hash: Vec<u8>, at: UnixTime) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query(
            "INSERT INTO bootstrap_token (id, hash, created_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at",
        )
        .bind(hash)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn take_bootstrap_token(&self, hash: &[u8]) -> StoreResult<bool> {
        let mut tx = self.tx().await?;
        let n = sqlx::query("DELETE FROM bootstrap_token WHERE id = 1 AND hash = $1")
            .bind(hash)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_by_their_first_six_letters() {
        fn keys(w: &str) -> Vec<&str> {
            word_keys(w).collect()
        }
        assert_eq!(keys("lee"), ["l", "le", "lee"]);
        assert_eq!(
            keys("nguyen12"),
            ["n", "ng", "ngu", "nguy", "nguye", "nguyen"]
        );
        assert_eq!(search_key_of("nguyen12"), "nguyen");
        assert_eq!(search_key_of("lee"), "lee");
        // Letters, not bytes.
        assert_eq!(keys("小明"), ["小", "小明"]);
        assert!(keys("").is_empty());
    }
}
