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
//!
//! Here: the store, its connections and write transactions. Each trait of
//! `athen_core::store` is implemented in a file of its own: `accounts.rs`,
//! `directory.rs` (with the search index), `credentials.rs`, `mailbox.rs`
//! (folders, messages, IMAP numbering, import files), `spool.rs` (the
//! group commit and unspooling), `operators.rs`, `audit.rs`, `queue.rs`.

mod accounts;
mod audit;
mod credentials;
mod directory;
mod mailbox;
mod operators;
mod queue;
mod spool;

pub(crate) use directory::index_every_entry;

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
