//! MTA-STS (RFC 8461): a domain's published promise that its MX hosts
//! speak TLS with valid certificates. The TXT record `_mta-sts.DOMAIN`
//! announces a policy (§3.1); the policy itself is fetched over HTTPS from
//! `https://mta-sts.DOMAIN/.well-known/mta-sts.txt` (§3.3) and cached for
//! its `max_age`, so an attacker who later blocks DNS or HTTPS cannot make
//! the server forget it (§5.1).

use super::tls_policy::TlsTrust;
use athen_core::clock::UnixTime;
use athen_core::queue::CachedPolicy;
use athen_core::store::MetadataStore;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use mail_auth::MessageAuthenticator;
use mail_auth::Txt;
use mail_auth::common::cache::NoCache;
use mail_auth::mta_sts::MtaSts;
use std::sync::Arc;
use std::time::Duration;

/// RFC 8461 §3.3: senders may limit the policy size; 64 KiB is generous.
const MAX_POLICY_BYTES: usize = 64 * 1024;
/// RFC 8461 §3.3 suggests a timeout of about a minute.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).
const MAX_AGE_LIMIT: u64 = 31_557_600;

/// The resolver's own cache is enough for TXT records.
type NoTxtCache = NoCache<Box<str>, Txt>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

/// A parsed policy file (RFC 8461 §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// Host names or `*.domain` patterns the MX hosts must match.
    pub mx: Vec<String>,
    pub max_age: u64,
}

impl Policy {
    /// RFC 8461 §3.2: `key: value` lines (LF or CRLF); `version` must be
    /// `STSv1`; `mode`, `max_age` and (unless the mode is none) `mx` are
    /// required; unknown keys are ignored.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(format!("the line {line:?} is not \"key: value\""));
            };
            let value = value.trim();
            match key.trim() {
                "version" => version = Some(value.to_string()),
                "mode" => {
                    mode = Some(match value {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        other => return Err(format!("unknown mode {other:?}")),
                    })
                }
                "max_age" => {
                    let secs: u64 = value
                        .parse()
                        .map_err(|_| format!("max_age {value:?} is not a number"))?;
                    max_age = Some(secs.min(MAX_AGE_LIMIT));
                }
                "mx" => mx.push(value.to_ascii_lowercase()),
                _ => {}
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err("the policy is not version STSv1".into());
        }
        let mode = mode.ok_or("the policy has no mode")?;
        let max_age = max_age.ok_or("the policy has no max_age")?;
        if mode != Mode::None && mx.is_empty() {
            return Err("the policy names no mx".into());
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// RFC 8461 §4.1: an MX host matches a pattern exactly, or a `*.`
    /// pattern that stands for exactly one leftmost label.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => *p == host,
        })
    }
}

/// Fetches recipient domains' policies and keeps them in the store.
pub struct MtaStsCache {
    trust: TlsTrust,
    /// 443 except in tests, where the policy server runs on loopback.
    https_port: u16,
    store: Arc<dyn MetadataStore>,
}

impl MtaStsCache {
    pub fn new(trust: TlsTrust, https_port: u16, store: Arc<dyn MetadataStore>) -> Self {
        Self {
            trust,
            https_port,
            store,
        }
    }

    /// The unexpired cached policy of `domain`, with the TXT id it came under.
    async fn cached(&self, domain: &str, now: UnixTime) -> Option<(String, Policy)> {
        let stored = match self.store.mta_sts_policy(domain).await {
            Ok(p) => p?,
            Err(e) => {
                tracing::warn!(domain = %domain, error = %e, "the MTA-STS cache could not be read");
                return None;
            }
        };
        if stored.expires_at <= now {
            return None;
        }
        Policy::parse(&stored.policy)
            .ok()
            .map(|p| (stored.policy_id, p))
    }

    /// The policy in force for `domain`, or `None` when it has none (or
    /// mode none). RFC 8461 §5.1: a cached, unexpired policy is used when
    /// the TXT record is unchanged, missing or unreachable, and when a new
    /// policy cannot be fetched; the cache survives restarts.
    pub async fn policy(
        &self,
        domain: &str,
        dns: &MessageAuthenticator,
        now: UnixTime,
    ) -> Option<Policy> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let in_force = |p: Policy| Some(p).filter(|p| p.mode != Mode::None);
        let cached = self.cached(&domain, now).await;
        let txt = dns
            .txt_lookup::<MtaSts>(format!("_mta-sts.{domain}."), None::<&NoTxtCache>)
            .await;
        let id = match txt {
            Ok(record) => record.id.clone(),
            Err(_) => return cached.and_then(|(_, p)| in_force(p)),
        };
        if let Some((cached_id, p)) = &cached
            && *cached_id == id
        {
            return in_force(p.clone());
        }
        match self.fetch(&domain, dns).await {
            Ok((text, policy)) => {
                tracing::info!(domain = %domain, mode = ?policy.mode, max_age = policy.max_age, "MTA-STS policy fetched");
                let entry = CachedPolicy {
                    domain: domain.clone(),
                    policy_id: id,
                    policy: text,
                    fetched_at: now,
                    expires_at: now
                        .saturating_add(i64::try_from(policy.max_age).unwrap_or(i64::MAX)),
                };
                if let Err(e) = self.store.save_mta_sts_policy(&entry).await {
                    tracing::warn!(domain = %domain, error = %e, "the MTA-STS policy could not be cached");
                }
                in_force(policy)
            }
            Err(e) => {
                tracing::warn!(domain = %domain, error = %e, "MTA-STS policy announced but not fetched");
                cached.and_then(|(_, p)| in_force(p))
            }
        }
    }

    /// RFC 8461 §3.3: HTTPS with a valid certificate for `mta-sts.DOMAIN`,
    /// no redirects, status 200, media type text/plain.
    async fn fetch(
        &self,
        domain: &str,
        dns: &MessageAuthenticator,
    ) -> Result<(String, Policy), String> {
        tokio::time::timeout(FETCH_TIMEOUT, self.fetch_inner(domain, dns))
            .await
            .map_err(|_| "the policy server did not answer in time".to_string())?
    }

    async fn fetch_inner(
        &self,
        domain: &str,
        dns: &MessageAuthenticator,
    ) -> Result<(String, Policy), String> {
        let host = format!("mta-sts.{domain}");
        let addrs = dns
            .resolver()
            .lookup_ip(format!("{host}.").as_str())
            .await
            .map_err(|e| format!("cannot find {host}: {e}"))?;
        let ip = addrs
            .iter()
            .next()
            .ok_or(format!("{host} has no address"))?;
        let tcp = tokio::net::TcpStream::connect((ip, self.https_port))
            .await
            .map_err(|e| format!("cannot connect to {host}: {e}"))?;
        let name = rustls_pki_types::ServerName::try_from(host.clone())
            .map_err(|_| format!("{host:?} is not a host name"))?;
        let tls = tokio_rustls::TlsConnector::from(self.trust.webpki_config())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host} failed: {e}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| format!("HTTP with {host} failed: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = hyper::Request::get("/.well-known/mta-sts.txt")
            .header(hyper::header::HOST, &host)
            .header(hyper::header::USER_AGENT, "ATHEN")
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let result = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("HTTP with {host} failed: {e}"))?;
            if response.status() != hyper::StatusCode::OK {
                return Err(format!(
                    "{host} answered {} (redirects are not followed)",
                    response.status()
                ));
            }
            let media_type = response
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !media_type
                .split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/plain"))
            {
                return Err(format!("{host} sent {media_type:?}, not text/plain"));
            }
            let body = Limited::new(response.into_body(), MAX_POLICY_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the policy from {host} failed: {e}"))?
                .to_bytes();
            let text = std::str::from_utf8(&body)
                .map_err(|_| format!("the policy from {host} is not UTF-8"))?;
            let policy = Policy::parse(text)
                .map_err(|e| format!("the policy from {host} is invalid: {e}"))?;
            Ok((text.to_string(), policy))
        }
        .await;
        driver.abort();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_rfc_example() {
        let p = Policy::parse(
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert!(p.allows("mail.example.com"));
        assert!(p.allows("MAIL.EXAMPLE.COM."));
        assert!(p.allows("mx1.example.net"));
        assert!(!p.allows("a.b.example.net"), "a wildcard is one label");
        assert!(!p.allows("example.net"));
        assert!(!p.allows("evil.example.com"));
    }

    #[test]
    fn refuses_incomplete_or_foreign_policies() {
        assert!(Policy::parse("mode: enforce\nmx: a\nmax_age: 1\n").is_err());
        assert!(Policy::parse("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n").is_err());
        assert!(Policy::parse("version: STSv1\nmode: enforce\nmax_age: 1\n").is_err());
        assert!(Policy::parse("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n").is_err());
        assert!(Policy::parse("version: STSv1\nmode: enforce\nmx: a\nmax_age: soon\n").is_err());
        let none = Policy::parse("version: STSv1\nmode: none\nmax_age: 86400\n").unwrap();
        assert_eq!(none.mode, Mode::None);
        let long = Policy::parse(
            "version: STSv1\nmode: testing\nmx: a\nmax_age: 99999999999\nextension: x\n",
        )
        .unwrap();
        assert_eq!(long.max_age, MAX_AGE_LIMIT);
    }

    proptest! {
        #[test]
        fn parser_never_panics(text in "\\PC{0,300}") {
            let _ = Policy::parse(&text);
        }
    }
}
