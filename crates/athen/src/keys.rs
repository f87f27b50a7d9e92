//! The server's own keys in `<data_dir>/keys/`, made at first start: the
//! queue key (encrypts mail waiting to leave) and the DKIM signing key.
//! Both files are readable by the server's user only; losing the queue key
//! loses only mail still in the queue.

use crate::tls::write_private;
use anyhow::{Context, Result};
use athen_smtp::dkim::DkimKeys;
use athen_vault::QueueKey;
use std::path::Path;
use zeroize::Zeroizing;

pub fn queue_key(data_dir: &Path) -> Result<QueueKey> {
    let path = data_dir.join("keys/queue.key");
    if path.exists() {
        let bytes = Zeroizing::new(
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        return QueueKey::from_bytes(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let key = QueueKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(data_dir.join("keys"))?;
    write_private(&path, key.as_bytes())?;
    tracing::info!(path = %path.display(), "made the outbound queue key");
    Ok(key)
}

pub fn dkim_keys(data_dir: &Path, selector: &str) -> Result<DkimKeys> {
    let path = data_dir.join("keys/dkim-rsa.der");
    let der = if path.exists() {
        Zeroizing::new(
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
        )
    } else {
        let der = athen_smtp::dkim::generate_key().map_err(|e| anyhow::anyhow!(e))?;
        std::fs::create_dir_all(data_dir.join("keys"))?;
        write_private(&path, &der)?;
        tracing::info!(path = %path.display(), "made the DKIM signing key; publish it with `athen dns-records`");
        der
    };
    DkimKeys::new(selector, der).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
