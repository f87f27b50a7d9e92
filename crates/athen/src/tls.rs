//! TLS server configuration: the operator's certificate, or a self-signed
//! one made once and kept in the data directory.

use anyhow::{Context, Result};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the certificate came from, for the start-up summary.
pub struct TlsSetup {
    pub config: Arc<ServerConfig>,
    pub certificate: PathBuf,
    pub self_signed: bool,
    /// SHA-256 of the server's own certificate (DER), lower-case hex: what
    /// `athen-fetch setup` shows before it pins a self-signed certificate.
    pub fingerprint: String,
}

/// Loads the configured certificate, or makes (first time) and loads the
/// self-signed one in `data_dir/tls`.
pub fn server_config(
    data_dir: &Path,
    hostname: &str,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<TlsSetup> {
    let (cert_path, key_path, self_signed) = match (cert, key) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf(), false),
        _ => {
            let dir = data_dir.join("tls");
            let c = dir.join("self-signed-cert.pem");
            let k = dir.join("self-signed-key.pem");
            if !c.exists() || !k.exists() {
                make_self_signed(&dir, &c, &k, hostname)?;
            }
            (c, k, true)
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .with_context(|| format!("cannot read certificate {}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("certificate {} is not valid PEM", cert_path.display()))?;
    if chain.is_empty() {
        anyhow::bail!(
            "certificate {} contains no certificate",
            cert_path.display()
        );
    }
    let fingerprint: String = {
        use sha2::Digest;
        sha2::Sha256::digest(chain[0].as_ref())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .with_context(|| format!("cannot read private key {}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| {
            format!(
                "certificate {} and key {} do not match",
                cert_path.display(),
                key_path.display()
            )
        })?;
    Ok(TlsSetup {
        config: Arc::new(config),
        certificate: cert_path,
        self_signed,
        fingerprint,
    })
}

fn make_self_signed(dir: &Path, cert: &Path, key: &Path, hostname: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut names = vec![hostname.to_string()];
    for extra in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == extra) {
            names.push(extra.to_string());
        }
    }
    let ck = rcgen::generate_simple_self_signed(names)
        .context("cannot make a self-signed certificate")?;
    write_private(key, ck.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert, ck.cert.pem())
        .with_context(|| format!("cannot write {}", cert.display()))?;
    tracing::warn!(certificate = %cert.display(), "made a self-signed TLS certificate; browsers and mail servers will not trust it");
    Ok(())
}

/// Writes a secret file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
