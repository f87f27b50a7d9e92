//! Embedded schema migrations, applied in order at start-up.
//!
//! Each migration runs in its own transaction together with the row that
//! records it, so a crash during an upgrade leaves the previous schema intact.

use athen_core::StoreError;
use sqlx::SqlitePool;

/// (version, SQL) in the order they must be applied. Never edit a released
/// migration: add a new one.
const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_foundation.sql")),
    (
        2,
        include_str!("../migrations/sqlite/0002_outbound_queue.sql"),
    ),
    (
        3,
        include_str!("../migrations/sqlite/0003_mta_sts_cache.sql"),
    ),
    (4, include_str!("../migrations/sqlite/0004_audit_trail.sql")),
    (
        5,
        include_str!("../migrations/sqlite/0005_mailbox_settings.sql"),
    ),
    (
        6,
        include_str!("../migrations/sqlite/0006_pages_and_patients.sql"),
    ),
    (
        7,
        include_str!("../migrations/sqlite/0007_welcome_letters.sql"),
    ),
    (
        8,
        include_str!("../migrations/sqlite/0008_directory_search.sql"),
    ),
    (
        9,
        include_str!("../migrations/sqlite/0009_two_step_sign_in.sql"),
    ),
    (
        10,
        include_str!("../migrations/sqlite/0010_directory_place.sql"),
    ),
];

pub(crate) async fn run(pool: &SqlitePool) -> Result<(), StoreError> {
    let io = |e: sqlx::Error| StoreError::Io(format!("migration: {e}"));
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .execute(pool)
    .await
    .map_err(io)?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(pool)
        .await
        .map_err(io)?;
    let newest_known = SQLITE_MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if let Some(newer) = applied.iter().find(|v| **v > newest_known) {
        return Err(StoreError::State(format!(
            "the database has schema version {newer}, newer than this ATHEN ({newest_known}); \
             run the newer ATHEN or restore a backup"
        )));
    }
    for (version, sql) in SQLITE_MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        let mut tx = pool.begin().await.map_err(io)?;
        sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(io)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, strftime('%s','now'))",
        )
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(io)?;
        tx.commit().await.map_err(io)?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
