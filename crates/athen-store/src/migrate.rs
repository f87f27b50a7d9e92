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
    (
        11,
        include_str!("../migrations/sqlite/0011_directory_words.sql"),
    ),
    (
        12,
        include_str!("../migrations/sqlite/0012_import_files.sql"),
    ),
    (
        13,
        include_str!("../migrations/sqlite/0013_sent_uploads.sql"),
    ),
    (
        14,
        include_str!("../migrations/sqlite/0014_imap_modseq.sql"),
    ),
    (
        15,
        include_str!("../migrations/sqlite/0015_token_doors.sql"),
    ),
    (
        16,
        include_str!("../migrations/sqlite/0016_keyed_upload_digests.sql"),
    ),
    (
        17,
        include_str!("../migrations/sqlite/0017_operator_two_step.sql"),
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
        if *version == 11 {
            // Words are split in Rust, as the store splits them later.
            crate::sqlite::index_every_entry(&mut tx).await?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqlitePoolOptions;

    /// A database made before 0011 gets the words of the entries it has.
    #[tokio::test]
    async fn the_words_index_is_filled_for_entries_already_there() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .execute(&pool)
        .await
        .unwrap();
        for (version, sql) in SQLITE_MIGRATIONS.iter().filter(|m| m.0 <= 10) {
            sqlx::raw_sql(*sql).execute(&pool).await.unwrap();
            sqlx::query("INSERT INTO schema_migrations VALUES ($1, 0)")
                .bind(version)
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::raw_sql(
            r#"INSERT INTO accounts (id, kind, status, address, name, created_at, status_changed_at)
               VALUES (1, 'individual', 'confirmed', 'sean@x.test', 'Sean', 0, 0);
               INSERT INTO directory_entries (id, account_id, role, details, name_key, specialty_key)
               VALUES (7, 1, 'individual',
                 '{"title":"Dr","given_name":"Seán","family_name":"O''Brien","specialty":"Sports medicine","provider_numbers":[]}',
                 'dr sean o''brien', 'sports medicine');"#,
        )
        .execute(&pool)
        .await
        .unwrap();
        run(&pool).await.unwrap();
        let words: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT field, word, whole FROM directory_words WHERE entry_id = 7 ORDER BY field, word",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let words: Vec<(&str, &str, &str)> = words
            .iter()
            .map(|(f, w, x)| (f.as_str(), w.as_str(), x.as_str()))
            .collect();
        // Beginnings of up to six letters, beside the whole word.
        for key in [
            ("name", "dr", "dr"),
            ("name", "sea", "sean"),
            ("name", "o", "o"),
            ("name", "o", "obrien"),
            ("name", "obrien", "obrien"),
            ("name", "bri", "brien"),
            ("specialty", "sports", "sports"),
            ("specialty", "medici", "medicine"),
        ] {
            assert!(words.contains(&key), "{key:?} in {words:?}");
        }
        assert!(!words.iter().any(|w| w.1 == "medicin"));
        assert_eq!(words.len(), 30);
    }
}
