//! Persistence for ATHEN behind the storage traits of `athen-core`.
//!
//! - [`SqliteStore`]: the embedded metadata store (WAL, full fsync on commit,
//!   one writer connection, embedded migrations).
//! - [`FsBlobStore`]: sealed blobs as files, written atomically and durably
//!   (write a temporary file, fsync, rename, fsync the directory).
//!
//! Callers only see the traits, so a later PostgreSQL and S3-compatible
//! implementation can stand in without changing them.

mod blob_fs;
mod migrate;
mod sqlite;

pub use blob_fs::FsBlobStore;
pub use sqlite::SqliteStore;

/// Random hex for blob keys and temporary names.
pub fn random_hex(bytes: usize) -> Result<String, athen_core::StoreError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| athen_core::StoreError::Io(format!("no randomness: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
