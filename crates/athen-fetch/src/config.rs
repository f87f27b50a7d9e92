//! The downloader's settings: which server, which login and app token,
//! which import folder, how often, and how the server's certificate is
//! trusted. Kept per user (as the original Windows client did) in a TOML
//! file readable by that user only, since it holds the app token.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroize;

/// How the server's certificate is checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Trust {
    /// By the operating system's trusted roots (a certificate from a
    /// public authority, Let's Encrypt say).
    System,
    /// Only the certificate whose SHA-256 (hex, of its DER form) is this:
    /// trusted on first use, for a server with a self-signed certificate.
    /// Any other certificate is refused, even a valid one.
    Pinned { sha256: String },
}

impl Trust {
    /// In words, for `status` and `setup`.
    pub fn describe(&self) -> String {
        match self {
            Trust::System => "the computer's trusted certificate authorities".into(),
            Trust::Pinned { sha256 } => {
                format!("only the certificate pinned at setup (SHA-256 {sha256})")
            }
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// `https://host[:port]`.
    pub server: String,
    /// The login the app token belongs to (the practice's address, or a
    /// staff login).
    pub login: String,
    /// The app token (Settings → App tokens in the web app).
    pub token: String,
    /// Where the clinical system picks up files.
    pub import_folder: PathBuf,
    /// Where the clinical system leaves files to send (PIT, HL7, RTF,
    /// DOCX), if the practice uses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_folder: Option<PathBuf>,
    /// How often `run` looks for new letters.
    #[serde(default = "default_interval")]
    pub interval_minutes: u64,
    pub trust: Trust,
}

fn default_interval() -> u64 {
    15
}

impl Drop for Config {
    fn drop(&mut self) {
        self.token.zeroize();
    }
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no settings at {0}: run \"athen-fetch setup\" first")]
    Missing(PathBuf),
    #[error("the settings at {path} cannot be read: {why}")]
    Unreadable { path: PathBuf, why: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        // The text holds the token: wiped when read.
        let text = match std::fs::read_to_string(path) {
            Ok(t) => zeroize::Zeroizing::new(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing(path.to_path_buf()));
            }
            Err(e) => {
                return Err(ConfigError::Unreadable {
                    path: path.to_path_buf(),
                    why: e.to_string(),
                });
            }
        };
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Unreadable {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        config.check()?;
        Ok(config)
    }

    /// What the settings must be to be used at all.
    pub fn check(&self) -> Result<(), ConfigError> {
        crate::client::ServerAddress::parse(&self.server)
            .map_err(|e| ConfigError::Invalid(format!("server: {e}")))?;
        if self.login.trim().is_empty() || self.token.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "login and token: both are needed (an app token from Settings → App tokens)".into(),
            ));
        }
        if self.interval_minutes == 0 {
            return Err(ConfigError::Invalid("interval_minutes: at least 1".into()));
        }
        if let Trust::Pinned { sha256 } = &self.trust
            && (sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ConfigError::Invalid(
                "trust.sha256: 64 hexadecimal digits".into(),
            ));
        }
        Ok(())
    }

    /// Writes the settings whole or not at all (a temporary file, then a
    /// rename), readable by this user only.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = toml::to_string_pretty(self).map_err(std::io::Error::other)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::files::write_private(path, text.as_bytes())
    }
}

/// The settings file when none is named: per user.
/// Windows: `%APPDATA%\ATHEN\athen-fetch\config.toml`; macOS:
/// `~/Library/Application Support/ATHEN/athen-fetch/config.toml`; others:
/// `$XDG_CONFIG_HOME/athen-fetch/config.toml` (or `~/.config/…`).
pub fn default_path() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = if cfg!(windows) {
        env("APPDATA").map(|d| d.join("ATHEN").join("athen-fetch"))
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library/Application Support/ATHEN/athen-fetch"))
    } else {
        env("XDG_CONFIG_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".config")))
            .map(|d| d.join("athen-fetch"))
    }?;
    Some(dir.join("config.toml"))
}

/// The usual import folders of clinical systems, as (system, folder).
/// Medical Director's is its documented default; Best Practice's is where
/// the original ATHEN client put files. Genie and Zedmed set theirs per
/// practice: `setup` asks.
pub const KNOWN_IMPORT_FOLDERS: &[(&str, &str)] = &[
    (
        "Medical Director",
        r"C:\Program Files\Health Communication Network\Messages\In",
    ),
    (
        "Medical Director",
        r"C:\Program Files (x86)\Health Communication Network\Messages\In",
    ),
    ("Best Practice", r"C:\Results"),
];

/// The known import folders that exist on this computer.
pub fn detected_import_folders() -> Vec<(&'static str, PathBuf)> {
    KNOWN_IMPORT_FOLDERS
        .iter()
        .map(|(system, dir)| (*system, PathBuf::from(dir)))
        .filter(|(_, dir)| dir.is_dir())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(trust: Trust) -> Config {
        Config {
            server: "https://mail.example:8443".into(),
            login: "reception@northside.example".into(),
            token: "athen-token".into(),
            import_folder: "/tmp/in".into(),
            upload_folder: None,
            interval_minutes: 15,
            trust,
        }
    }

    #[test]
    fn settings_round_trip_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/config.toml");
        let pin = Trust::Pinned {
            sha256: "ab".repeat(32),
        };
        config(pin.clone()).save(&path).unwrap();
        let back = Config::load(&path).unwrap();
        assert_eq!(back.trust, pin);
        assert_eq!(back.token, "athen-token");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "only its owner may read it: {mode:o}");
        }
        let mut bad = config(Trust::System);
        bad.server = "http://mail.example".into();
        assert!(bad.check().unwrap_err().to_string().contains("https"));
        let short_pin = config(Trust::Pinned {
            sha256: "abc".into(),
        });
        assert!(short_pin.check().is_err());
        assert!(matches!(
            Config::load(&dir.path().join("none.toml")),
            Err(ConfigError::Missing(_))
        ));
        std::fs::write(dir.path().join("junk.toml"), "server = 1").unwrap();
        assert!(matches!(
            Config::load(&dir.path().join("junk.toml")),
            Err(ConfigError::Unreadable { .. })
        ));
    }
}
