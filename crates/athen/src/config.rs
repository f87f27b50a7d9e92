//! Configuration: `athen.toml`, environment overrides, and the localserve
//! defaults.
//!
//! Every setting has a safe default. Unknown keys and bad values are errors
//! that name the file (or environment variable), the key and the reason, and
//! the server refuses to start: a typo must never silently fall back to a
//! default.

use anyhow::{Context, Result, bail};
use athen_core::lifecycle::ExpiryPolicy;
use athen_vault::KdfParams;
use athen_vault::auth::ThrottleLimits;
use athen_vault::sessions::SessionLimits;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerSection,
    pub listen: ListenSection,
    pub tls: TlsSection,
    pub vault: VaultSection,
    pub accounts: AccountsSection,
    pub audit: AuditSection,
    pub limits: LimitsSection,
    pub smtp: SmtpSection,
    pub outbound: OutboundSection,
    pub log: LogSection,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSection {
    /// DNS servers for SPF, DKIM and DMARC checks ("ip" or "ip:port");
    /// empty: the system's (/etc/resolv.conf).
    pub dns_servers: Vec<String>,
    /// Refuse incoming mail that fails DMARC when the sender's domain asks
    /// for rejection. Default false: record the failure and deliver.
    pub reject_dmarc_failures: bool,
}

/// Sending to other mail servers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundSection {
    /// "direct" (look up MX, port 25), "smarthost" (relay everything), or
    /// "catch-all" (keep it in <data_dir>/catch-all; localserve's default).
    pub mode: String,
    pub smarthost_host: String,
    pub smarthost_port: u16,
    /// The smarthost speaks TLS from the first byte (port 465).
    pub smarthost_implicit_tls: bool,
    pub smarthost_username: String,
    /// A file holding the smarthost password (kept out of this file).
    pub smarthost_password_file: Option<PathBuf>,
    /// Check the smarthost's certificate against the trusted roots.
    pub smarthost_verify_certificate: bool,
    /// Extra trusted CA certificates (PEM), e.g. a private CA.
    pub ca_file: Option<PathBuf>,
    /// Use DANE TLSA records (needs a validating resolver).
    pub dane: bool,
    /// The port of other servers' MX hosts (25; tests only).
    pub mx_port: u16,
    /// The port of MTA-STS policy servers (443; tests only).
    pub mta_sts_port: u16,
    /// Fixed destinations: "domain" = "host:port".
    pub routes: std::collections::BTreeMap<String, String>,
    /// Domains that may receive without TLS. Each use is logged loudly.
    pub plaintext_domains: Vec<String>,
    /// Seconds between attempts; the last repeats.
    pub retry_seconds: Vec<u32>,
    pub give_up_after_hours: u32,
    pub delay_report_after_minutes: u32,
    /// How often the queue is checked when nothing new arrives.
    pub poll_seconds: u32,
    /// DKIM selector: the key is published at <selector>._domainkey.<domain>.
    pub dkim_selector: String,
}

impl Default for OutboundSection {
    fn default() -> Self {
        Self {
            mode: "direct".into(),
            smarthost_host: String::new(),
            smarthost_port: 587,
            smarthost_implicit_tls: false,
            smarthost_username: String::new(),
            smarthost_password_file: None,
            smarthost_verify_certificate: true,
            ca_file: None,
            dane: true,
            mx_port: 25,
            mta_sts_port: 443,
            routes: Default::default(),
            plaintext_domains: Vec::new(),
            retry_seconds: vec![60, 300, 900, 1800, 3600, 7200, 14400],
            give_up_after_hours: 120,
            delay_report_after_minutes: 240,
            poll_seconds: 30,
            dkim_selector: "athen".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// The mail domain: addresses are user@domain.
    pub domain: String,
    /// This server's host name (certificates, SMTP greeting, links).
    pub hostname: String,
    /// Where the database, blobs, keys and certificates live.
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenSection {
    pub address: IpAddr,
    pub https: u16,
    pub smtp: u16,
    pub submission: u16,
    pub submissions: u16,
    pub imap: u16,
    pub imaps: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// PEM certificate chain. Empty: a self-signed certificate is made once
    /// and kept in the data directory (fine for testing, not for production).
    pub certificate: Option<PathBuf>,
    /// PEM private key matching `certificate`.
    pub private_key: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultSection {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub session_idle_minutes: u32,
    pub session_absolute_hours: u32,
    pub failed_logins_per_account: u32,
    pub failed_logins_per_address: u32,
    pub failed_login_window_minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsSection {
    pub flag_unconfirmed_after_days: u32,
    pub close_flagged_after_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// Audit trail entries older than this are removed (0: kept for ever).
    pub retention_days: u32,
}

impl Default for AuditSection {
    fn default() -> Self {
        // The original ATHEN kept its audit trail for 120 days.
        Self {
            retention_days: 120,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    pub max_message_bytes: u64,
    /// Open SMTP connections allowed from one address at once.
    pub smtp_connections_per_address: u32,
    /// Open SMTP connections allowed in all.
    pub smtp_connections: u32,
    /// New SMTP connections allowed from one address in any minute.
    pub smtp_connections_per_minute_per_address: u32,
    /// Directory searches (and compose suggestions) allowed from one
    /// address in a minute; 0: no limit.
    pub directory_searches_per_minute: u32,
    /// Open IMAP connections allowed from one address at once (a phone
    /// and a desktop program keep several each), and in all.
    pub imap_connections_per_address: u32,
    pub imap_connections: u32,
    /// New IMAP connections allowed from one address in any minute (0:
    /// no limit).
    pub imap_connections_per_minute_per_address: u32,
    /// What one mailbox may hold, in MiB, as IMAP reports it (RFC 9208);
    /// mail programs cannot add to a mailbox past it. 0: no limit.
    pub mailbox_quota_mb: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// error, warn, info, debug or trace.
    pub level: String,
    /// "text" or "json".
    pub format: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            domain: "example.com.au".into(),
            hostname: "mail.example.com.au".into(),
            data_dir: PathBuf::from("/var/lib/athen"),
        }
    }
}

impl Default for ListenSection {
    fn default() -> Self {
        Self {
            address: IpAddr::from([0, 0, 0, 0]),
            https: 443,
            smtp: 25,
            submission: 587,
            submissions: 465,
            imap: 143,
            imaps: 993,
        }
    }
}

impl Default for VaultSection {
    fn default() -> Self {
        let k = KdfParams::default();
        let t = ThrottleLimits::default();
        let s = SessionLimits::default();
        Self {
            argon2_memory_kib: k.memory_kib,
            argon2_iterations: k.iterations,
            argon2_parallelism: k.parallelism,
            session_idle_minutes: (s.idle_secs / 60) as u32,
            session_absolute_hours: (s.absolute_secs / 3600) as u32,
            failed_logins_per_account: t.per_login,
            failed_logins_per_address: t.per_source,
            failed_login_window_minutes: (t.window_secs / 60) as u32,
        }
    }
}

impl Default for AccountsSection {
    fn default() -> Self {
        let p = ExpiryPolicy::default();
        Self {
            flag_unconfirmed_after_days: p.flag_after_days,
            close_flagged_after_days: p.close_after_days,
        }
    }
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            max_message_bytes: 50 * 1024 * 1024,
            smtp_connections_per_address: 20,
            smtp_connections: 2000,
            smtp_connections_per_minute_per_address: 600,
            directory_searches_per_minute: 120,
            imap_connections_per_address: 50,
            imap_connections: 4000,
            imap_connections_per_minute_per_address: 300,
            mailbox_quota_mb: 10 * 1024,
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// Prefix of environment variables that override the file. A double
/// underscore separates section and key: `ATHEN_LISTEN__HTTPS=8443`.
pub const ENV_PREFIX: &str = "ATHEN_";

impl Config {
    /// The defaults `athen localserve` runs with: loopback, unprivileged
    /// ports, data in ./athen-data.
    pub fn localserve() -> Self {
        Self {
            server: ServerSection {
                domain: "athen.localhost".into(),
                hostname: "localhost".into(),
                data_dir: PathBuf::from("athen-data"),
            },
            listen: ListenSection {
                address: IpAddr::from([127, 0, 0, 1]),
                https: 8443,
                smtp: 2525,
                submission: 2587,
                submissions: 2465,
                imap: 2143,
                imaps: 2993,
            },
            // localserve never sends mail to the internet.
            outbound: OutboundSection {
                mode: "catch-all".into(),
                ..OutboundSection::default()
            },
            ..Self::default()
        }
    }

    /// Reads a config file, applies `ATHEN_SECTION__KEY` environment
    /// overrides, and checks the result.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::from_toml(&text, &path.display().to_string(), std::env::vars())
    }

    /// Parses `text` (named `source` in errors) over the defaults, then the
    /// environment overrides in `env`.
    pub fn from_toml(
        text: &str,
        source: &str,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Self> {
        // First the file alone, so that its errors carry line and column.
        let from_file: Config = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{source}: {}", e.to_string().trim_end()))?;
        let mut doc: toml::Table =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        let mut env_keys = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let Some((section, key)) = rest.split_once("__") else {
                continue;
            };
            let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
            // Numbers and booleans are typed as such; everything else is a string.
            let parsed = value
                .parse::<i64>()
                .map(toml::Value::Integer)
                .or_else(|_| value.parse::<bool>().map(toml::Value::Boolean))
                .unwrap_or(toml::Value::String(value.clone()));
            let table = doc
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(table) = table.as_table_mut() else {
                bail!("environment variable {name}: [{section}] is not a section");
            };
            table.insert(key.clone(), parsed);
            env_keys.push((name, section, key));
        }
        if env_keys.is_empty() {
            from_file
                .check()
                .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
            return Ok(from_file);
        }
        let config: Config = match toml::Value::Table(doc.clone()).try_into() {
            Ok(c) => c,
            Err(e) => {
                let e: toml::de::Error = e;
                // Find the environment variable at fault by applying each alone.
                let file_doc: toml::Table = toml::from_str(text).unwrap_or_default();
                for (var, section, key) in &env_keys {
                    let mut one = file_doc.clone();
                    let value = doc.get(section).and_then(|t| t.get(key)).cloned();
                    let table = one
                        .entry(section.clone())
                        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                    if let (Some(v), Some(t)) = (value, table.as_table_mut()) {
                        t.insert(key.clone(), v);
                    }
                    if let Err(e1) = toml::Value::Table(one).try_into::<Config>() {
                        bail!(
                            "environment variable {var} ([{section}] {key}): {}",
                            e1.message()
                        );
                    }
                }
                bail!(
                    "{source} with ATHEN_* environment overrides: {}",
                    e.message()
                );
            }
        };
        config
            .check()
            .map_err(|e| anyhow::anyhow!("{source} with ATHEN_* environment overrides: {e}"))?;
        Ok(config)
    }

    /// Checks values that types alone cannot.
    pub fn check(&self) -> Result<()> {
        athen_core::identifiers::domain_name(&self.server.domain)
            .map_err(|e| anyhow::anyhow!("[server] domain: {}", e.reason))?;
        if self.server.hostname.trim().is_empty() {
            bail!("[server] hostname: must not be empty");
        }
        if self.server.data_dir.as_os_str().is_empty() {
            bail!("[server] data_dir: must not be empty");
        }
        let l = &self.listen;
        let ports = [
            ("https", l.https),
            ("smtp", l.smtp),
            ("submission", l.submission),
            ("submissions", l.submissions),
            ("imap", l.imap),
            ("imaps", l.imaps),
        ];
        // Port 0 means "any free port", which is printed at start (tests use it).
        for (i, (name, port)) in ports.iter().enumerate() {
            if *port == 0 {
                continue;
            }
            if let Some((other, _)) = ports[..i].iter().find(|(_, p)| p == port) {
                bail!("[listen] {name}: port {port} is already used by {other}");
            }
        }
        match (&self.tls.certificate, &self.tls.private_key) {
            (Some(_), None) => bail!("[tls] private_key: required when certificate is set"),
            (None, Some(_)) => bail!("[tls] certificate: required when private_key is set"),
            _ => {}
        }
        self.kdf_params()
            .check()
            .map_err(|e| anyhow::anyhow!("[vault] argon2_*: {e}"))?;
        let v = &self.vault;
        if v.session_idle_minutes == 0 || v.session_absolute_hours == 0 {
            bail!("[vault] session_*: timeouts must be at least 1");
        }
        if u64::from(v.session_idle_minutes) > u64::from(v.session_absolute_hours) * 60 {
            bail!("[vault] session_idle_minutes: must not exceed session_absolute_hours");
        }
        if v.failed_logins_per_account == 0
            || v.failed_logins_per_address == 0
            || v.failed_login_window_minutes == 0
        {
            bail!("[vault] failed_login*: limits must be at least 1");
        }
        if self.accounts.flag_unconfirmed_after_days == 0 {
            bail!("[accounts] flag_unconfirmed_after_days: must be at least 1");
        }
        if self.limits.max_message_bytes < 1024 {
            bail!("[limits] max_message_bytes: must be at least 1024");
        }
        if self.limits.smtp_connections_per_address == 0
            || self.limits.smtp_connections == 0
            || self.limits.smtp_connections_per_minute_per_address == 0
        {
            bail!("[limits] smtp_connections*: must be at least 1");
        }
        self.dns_servers()?;
        let o = &self.outbound;
        match o.mode.as_str() {
            "direct" | "catch-all" => {}
            "smarthost" if o.smarthost_host.is_empty() => {
                bail!("[outbound] smarthost_host: needed when mode = \"smarthost\"")
            }
            "smarthost" => {}
            _ => bail!("[outbound] mode: must be direct, smarthost or catch-all"),
        }
        if o.mx_port == 0 || o.mta_sts_port == 0 {
            bail!("[outbound] mx_port and mta_sts_port: must not be 0");
        }
        if o.smarthost_username.is_empty() != o.smarthost_password_file.is_none() {
            bail!("[outbound] smarthost_username and smarthost_password_file go together");
        }
        for (domain, target) in &o.routes {
            Self::host_port(target)
                .map_err(|e| anyhow::anyhow!("[outbound] routes.{domain}: {e}"))?;
        }
        if o.retry_seconds.is_empty() || o.retry_seconds.contains(&0) {
            bail!("[outbound] retry_seconds: give at least one wait, each at least 1 second");
        }
        if o.give_up_after_hours == 0 || o.poll_seconds == 0 {
            bail!("[outbound] give_up_after_hours and poll_seconds: must be at least 1");
        }
        if o.dkim_selector.is_empty()
            || !o
                .dkim_selector
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            bail!("[outbound] dkim_selector: letters, digits and '-' only");
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log.level.as_str()) {
            bail!("[log] level: must be error, warn, info, debug or trace");
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            bail!("[log] format: must be text or json");
        }
        Ok(())
    }

    /// "host:port" of a route.
    pub fn host_port(s: &str) -> Result<(String, u16)> {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| anyhow::anyhow!("{s:?} is not host:port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| anyhow::anyhow!("{s:?} has no valid port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            bail!("{s:?} is not host:port");
        }
        Ok((host.to_string(), port))
    }

    /// The `[smtp] dns_servers` as socket addresses (port 53 if not given).
    pub fn dns_servers(&self) -> Result<Vec<std::net::SocketAddr>> {
        self.smtp
            .dns_servers
            .iter()
            .map(|s| {
                s.parse::<std::net::SocketAddr>()
                    .or_else(|_| {
                        s.parse::<IpAddr>()
                            .map(|ip| std::net::SocketAddr::new(ip, 53))
                    })
                    .map_err(|_| {
                        anyhow::anyhow!("[smtp] dns_servers: {s:?} is not an IP address or ip:port")
                    })
            })
            .collect()
    }

    pub fn kdf_params(&self) -> KdfParams {
        KdfParams {
            memory_kib: self.vault.argon2_memory_kib,
            iterations: self.vault.argon2_iterations,
            parallelism: self.vault.argon2_parallelism,
        }
    }

    pub fn throttle_limits(&self) -> ThrottleLimits {
        ThrottleLimits {
            per_login: self.vault.failed_logins_per_account,
            per_source: self.vault.failed_logins_per_address,
            window_secs: i64::from(self.vault.failed_login_window_minutes) * 60,
        }
    }

    pub fn session_limits(&self) -> SessionLimits {
        SessionLimits {
            idle_secs: i64::from(self.vault.session_idle_minutes) * 60,
            absolute_secs: i64::from(self.vault.session_absolute_hours) * 3600,
        }
    }

    pub fn expiry_policy(&self) -> ExpiryPolicy {
        ExpiryPolicy {
            flag_after_days: self.accounts.flag_unconfirmed_after_days,
            close_after_days: self.accounts.close_flagged_after_days,
        }
    }
}

/// The fully commented example printed by `athen config example`. A test
/// checks that it parses to exactly the defaults.
pub const EXAMPLE: &str = r#"# ATHEN configuration.
#
# Every setting below is shown with its default; delete what you don't change.
# Environment variables override this file: ATHEN_<SECTION>__<KEY>, e.g.
#   ATHEN_LISTEN__HTTPS=8443  ATHEN_SERVER__DOMAIN=clinic.example.com.au
# Unknown keys and bad values stop the server with a message naming them.

[server]
# The mail domain. Addresses are name@domain.
domain = "example.com.au"
# This server's own host name: used in certificates, the SMTP greeting and links.
hostname = "mail.example.com.au"
# Database, sealed mail, keys and certificates. Back this up (see docs/operations.md).
data_dir = "/var/lib/athen"

[listen]
# Address to listen on; 0.0.0.0 is every IPv4 address, :: every IPv6 address.
address = "0.0.0.0"
https = 443
# SMTP for other mail servers (MX). STARTTLS is compulsory.
smtp = 25
# Mail submission by people's mail programs: STARTTLS on 587, implicit TLS on 465.
submission = 587
submissions = 465
# IMAP: STARTTLS on 143, implicit TLS on 993.
imap = 143
imaps = 993

[tls]
# PEM files for the certificate chain and its private key. Leave both unset to
# have ATHEN make a self-signed certificate in data_dir/tls (testing only).
# certificate = "/etc/athen/fullchain.pem"
# private_key = "/etc/athen/privkey.pem"

[vault]
# Argon2id cost for passwords. The default is OWASP's recommendation
# (19 MiB, 2 passes, 1 lane). Raising memory makes guessing costlier and
# logins slower; 7168 KiB is the least accepted.
argon2_memory_kib = 19456
argon2_iterations = 2
argon2_parallelism = 1
# A session (and the mailbox keys it holds in memory) ends after this long unused…
session_idle_minutes = 30
# …and this long after log-in, however busy.
session_absolute_hours = 12
# Failed log-ins allowed per account name and per source address in the window,
# before further attempts are refused until the window has passed.
failed_logins_per_account = 10
failed_logins_per_address = 50
failed_login_window_minutes = 15

[accounts]
# A provisional account not confirmed with the code from its letter is flagged
# for the administrator after this many days…
flag_unconfirmed_after_days = 21
# …and closed this many days after being flagged. Nothing is deleted.
close_flagged_after_days = 14

[audit]
# Each mailbox's audit trail (what happened to every letter) keeps entries
# for this many days; older ones are removed without breaking the trail's
# integrity check. 0 keeps them for ever.
retention_days = 120

[limits]
# Largest message accepted, in bytes.
max_message_bytes = 52428800
# Open SMTP connections allowed from one address at once, and in all. Further
# connections are told to try again later (421).
smtp_connections_per_address = 20
smtp_connections = 2000
# New SMTP connections allowed from one address in any minute.
smtp_connections_per_minute_per_address = 600
# Directory searches and compose suggestions from one address per minute
# (0: no limit).
directory_searches_per_minute = 120
# Open IMAP connections allowed from one address at once, and in all.
imap_connections_per_address = 50
imap_connections = 4000
# New IMAP connections allowed from one address in any minute (0: no limit).
imap_connections_per_minute_per_address = 300
# What one mailbox may hold, in MiB, as mail programs are told (IMAP QUOTA);
# they cannot add letters past it (0: no limit).
mailbox_quota_mb = 10240

[smtp]
# DNS servers for checking incoming mail's SPF, DKIM and DMARC, as "ip" or
# "ip:port". Empty: the system's resolvers.
dns_servers = []
# The results are always recorded in the message (Authentication-Results). By
# default a failure does not stop delivery, because clinical mail must not
# vanish silently; set true to refuse mail that fails DMARC where the sender's
# domain publishes p=reject.
reject_dmarc_failures = false

[outbound]
# How mail for other servers leaves: "direct" looks up each domain's MX and
# connects to port 25; "smarthost" hands everything to one relay;
# "catch-all" keeps it in <data_dir>/catch-all for the administrator to read
# and never sends it anywhere (what localserve does).
mode = "direct"
# The relay for mode = "smarthost".
smarthost_host = ""
smarthost_port = 587
smarthost_implicit_tls = false
# Log in to the smarthost (AUTH PLAIN, after TLS): both or neither.
smarthost_username = ""
# smarthost_password_file = "/etc/athen/smarthost-password"
# The smarthost's certificate must be valid for smarthost_host under the
# trusted roots. Turn off only for a relay on a private network.
smarthost_verify_certificate = true
# Certificates are checked against the system's trust roots
# (/etc/ssl/certs) plus the CA certificates (PEM) in this file.
# ca_file = "/etc/athen/private-ca.pem"
# DANE (RFC 7672): where an MX host publishes DNSSEC-signed TLSA records,
# its certificate must match them. ATHEN trusts the AD bit of the resolver
# in [smtp] dns_servers (or the system's), which must validate DNSSEC and
# should run on this machine (e.g. unbound). MTA-STS (RFC 8461) policies
# are always honoured. Without either, TLS is still required but the
# certificate cannot be checked, and the delivery record says so.
dane = true
# The ports of other servers' MX hosts and MTA-STS policy servers. Change
# these only for tests on one machine.
mx_port = 25
mta_sts_port = 443
# Domains that may receive mail without TLS. ATHEN otherwise never sends
# unencrypted; each use of an exception is logged as a warning.
plaintext_domains = []
# Seconds to wait before each retry of a temporary failure; the last repeats.
retry_seconds = [60, 300, 900, 1800, 3600, 7200, 14400]
# Give up and tell the sender after this long.
give_up_after_hours = 120
# Tell the sender once that a message is delayed after this long.
delay_report_after_minutes = 240
# How often to look at the queue when nothing new arrives.
poll_seconds = 30
# DKIM selector; `athen dns-records` prints the record to publish.
dkim_selector = "athen"

# Fixed destinations for some domains, instead of their MX records:
[outbound.routes]
# "partner.example" = "10.0.0.5:25"

[log]
# error, warn, info, debug or trace. Logs never contain message content or
# patient details.
level = "info"
# "text" for people, "json" for log collectors.
format = "text"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config> {
        Config::from_toml(
            text,
            "athen.toml",
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn example_is_exactly_the_defaults() {
        assert_eq!(parse(EXAMPLE, &[]).unwrap(), Config::default());
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(parse("", &[]).unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_names_file_key_and_reason() {
        let e = parse("[listen]\nhttps = 443\nhtps = 8443\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("athen.toml") && e.contains("htps") && e.contains("unknown field"),
            "{e}"
        );
        let e = parse("[lisen]\n", &[]).unwrap_err().to_string();
        assert!(e.contains("lisen"), "{e}");
    }

    #[test]
    fn bad_values_are_refused() {
        for (text, needle) in [
            ("[listen]\nhttps = 70000\n", "https"),
            ("[listen]\nhttps = \"x\"\n", "https"),
            ("[listen]\nimap = 25\n", "already used by smtp"),
            ("[server]\ndomain = \"nodot\"\n", "domain"),
            ("[vault]\nargon2_memory_kib = 64\n", "argon2"),
            ("[log]\nlevel = \"loud\"\n", "level"),
            ("[tls]\ncertificate = \"/x.pem\"\n", "private_key"),
            ("[listen]\naddress = \"localhost\"\n", "address"),
        ] {
            let e = parse(text, &[]).unwrap_err().to_string();
            assert!(e.contains(needle), "{text} → {e}");
        }
    }

    #[test]
    fn environment_overrides_the_file_and_is_named_in_errors() {
        let c = parse(
            "[listen]\nhttps = 443\n",
            &[
                ("ATHEN_LISTEN__HTTPS", "8443"),
                ("ATHEN_SERVER__DOMAIN", "clinic.test"),
            ],
        )
        .unwrap();
        assert_eq!(c.listen.https, 8443);
        assert_eq!(c.server.domain, "clinic.test");
        let e = parse("", &[("ATHEN_LISTEN__HTTP", "1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ATHEN_LISTEN__HTTP"), "{e}");
        // Variables without the section separator are for command-line flags, not the file.
        assert!(parse("", &[("ATHEN_DATA_DIR", "/x")]).is_ok());
    }

    #[test]
    fn localserve_defaults_are_valid() {
        Config::localserve().check().unwrap();
    }
}
