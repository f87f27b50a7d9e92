//! A blob store on the local filesystem.
//!
//! A `put` writes `tmp/<random>`, fsyncs it, renames it into place and fsyncs
//! the directory, so after it returns the blob survives power loss, and if it
//! fails (full disk, crash) nothing is visible under the key: rename is
//! atomic on POSIX filesystems.

use async_trait::async_trait;
use athen_core::StoreError;
use athen_core::store::{BlobStore, StoreResult};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Opens (creating if needed) a blob store under `root`, and removes
    /// temporary files left behind by an earlier crash.
    pub fn open(root: impl Into<PathBuf>) -> StoreResult<Self> {
        let root = root.into();
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| io_err("create blob directory", &tmp, e))?;
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Self { root })
    }

    /// Keys are made by ATHEN itself (`spool/12/ab34…`), but are checked
    /// anyway so that no key can ever reach outside the store.
    fn path_of(&self, key: &str) -> StoreResult<PathBuf> {
        let ok = !key.is_empty()
            && key.len() <= 200
            && key.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            })
            && !key.starts_with("tmp/");
        if !ok {
            return Err(StoreError::State(format!("invalid blob key {key:?}")));
        }
        Ok(self.root.join(key))
    }

    fn put_blocking(&self, key: &str, bytes: &[u8]) -> StoreResult<()> {
        let dest = self.path_of(key)?;
        let tmp = self.root.join("tmp").join(crate::random_hex(16)?);
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| io_err("create", &tmp, e))?;
            f.write_all(bytes).map_err(|e| io_err("write", &tmp, e))?;
            f.sync_all().map_err(|e| io_err("fsync", &tmp, e))?;
            drop(f);
            let parent = dest.parent().unwrap_or(&self.root);
            if !parent.exists() {
                fs::create_dir_all(parent).map_err(|e| io_err("create directory", parent, e))?;
                // The new directory's own entry must be durable too.
                if let Some(grand) = parent.parent() {
                    sync_dir(grand)?;
                }
            }
            fs::rename(&tmp, &dest).map_err(|e| io_err("rename", &dest, e))?;
            sync_dir(parent)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

fn sync_dir(dir: &Path) -> StoreResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("fsync directory", dir, e))
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{what} {}: {e}", path.display()))
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, bytes: &[u8]) -> StoreResult<()> {
        let this = self.clone();
        let key = key.to_string();
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || this.put_blocking(&key, &bytes))
            .await
            .map_err(|e| StoreError::Io(format!("blob writer stopped: {e}")))?
    }

    async fn get(&self, key: &str) -> StoreResult<Vec<u8>> {
        let path = self.path_of(key)?;
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(StoreError::NotFound(format!("blob {key}")))
            }
            Err(e) => Err(io_err("read", &path, e)),
        }
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        let path = self.path_of(key)?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || match fs::remove_file(&path) {
            Ok(()) => sync_dir(path.parent().unwrap_or(&this.root)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &path, e)),
        })
        .await
        .map_err(|e| StoreError::Io(format!("blob remover stopped: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::open(dir.path()).unwrap();
        s.put("spool/1/abc", b"hello").await.unwrap();
        assert_eq!(s.get("spool/1/abc").await.unwrap(), b"hello");
        s.delete("spool/1/abc").await.unwrap();
        assert!(matches!(
            s.get("spool/1/abc").await,
            Err(StoreError::NotFound(_))
        ));
        // Nothing is left in tmp after successful writes.
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn keys_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::open(dir.path()).unwrap();
        for bad in ["../x", "/etc/passwd", "a//b", "tmp/x", "a/./b", ""] {
            assert!(s.put(bad, b"x").await.is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn stale_temporaries_are_cleared_on_open() {
        let dir = tempfile::tempdir().unwrap();
        FsBlobStore::open(dir.path()).unwrap();
        fs::write(dir.path().join("tmp/leftover"), b"half").unwrap();
        FsBlobStore::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
