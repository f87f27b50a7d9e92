//! Opening a data directory: the database, the blob store and the lock
//! that keeps two servers from running on the same data.

use anyhow::{Context, Result};
use athen_core::clock::{Clock, SystemClock};
use athen_store::{FsBlobStore, SqliteStore};
use athen_vault::auth::{Authenticator, Throttle};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;

/// An open data directory.
pub struct DataDir {
    pub path: PathBuf,
    pub store: Arc<SqliteStore>,
    pub blobs: Arc<FsBlobStore>,
    pub clock: Arc<dyn Clock>,
}

impl DataDir {
    /// Opens (creating if needed) a data directory. Private to its owner:
    /// it holds wrapped keys and sealed mail.
    pub async fn open(path: &Path) -> Result<Self> {
        create_private_dir(path)?;
        let path = path
            .canonicalize()
            .with_context(|| format!("cannot resolve data directory {}", path.display()))?;
        let store = SqliteStore::open(&path.join("athen.db"))
            .await
            .with_context(|| format!("cannot open the database in {}", path.display()))?;
        let blobs = FsBlobStore::open(path.join("blobs"))
            .with_context(|| format!("cannot open the blob store in {}", path.display()))?;
        Ok(Self {
            path,
            store: Arc::new(store),
            blobs: Arc::new(blobs),
            clock: Arc::new(SystemClock),
        })
    }

    /// Takes the server lock, so two servers never share one data directory.
    /// Held until the returned file is dropped.
    pub fn lock_for_server(&self) -> Result<File> {
        let p = self.path.join("server.lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .with_context(|| format!("cannot open {}", p.display()))?;
        f.try_lock().map_err(|_| {
            anyhow::anyhow!(
                "another ATHEN server is already running on {}; stop it first",
                self.path.display()
            )
        })?;
        Ok(f)
    }

    pub fn authenticator(&self, config: &Config) -> Authenticator {
        Authenticator {
            accounts: self.store.clone(),
            credentials: self.store.clone(),
            mailboxes: self.store.clone(),
            clock: self.clock.clone(),
            throttle: Throttle::new(config.throttle_limits()),
            params: config.kdf_params(),
        }
    }
}

fn create_private_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .with_context(|| format!("cannot create data directory {}", path.display()))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(path)
            .with_context(|| format!("cannot create data directory {}", path.display()))
    }
}
