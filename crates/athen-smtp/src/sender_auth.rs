//! Checking who really sent a message: SPF (RFC 7208), DKIM (RFC 6376),
//! DMARC (RFC 7489) and ARC (RFC 8617), with Stalwart's `mail-auth`.
//!
//! The checks run in memory during the SMTP transaction, because afterwards
//! the message is sealed and the server can no longer read it. Their result
//! is written as an `Authentication-Results:` field (RFC 8601) at the top of
//! the sealed message, for the recipient's eyes and later processing.
//!
//! Policy: by default failures are recorded, not refused, because clinical
//! mail must not vanish silently. An operator may refuse messages that fail
//! DMARC where the sender's domain asks for rejection (`p=reject`).

use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput, DmarcResult,
    MessageAuthenticator, SpfOutput, SpfResult,
};
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// All checks together must finish within this time; otherwise the result
/// is recorded as a temporary error and the message is accepted.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SenderAuth {
    authenticator: Arc<MessageAuthenticator>,
    hostname: String,
    reject_dmarc_failures: bool,
}

/// What the checks found.
pub struct Verdict {
    /// The complete `Authentication-Results:` field, ending in CRLF.
    pub header: String,
    /// Set when the message must be refused (only if the operator asked).
    pub refuse: Option<String>,
    /// SPF passed for the envelope sender, or DMARC passed: the envelope
    /// sender is who the message says, so a delivery report may go to it
    /// without becoming backscatter to a forged address.
    pub sender_verified: bool,
}

/// The DNS resolver for sender checks and MX lookups. `dns_servers`
/// empty: the system's resolvers (/etc/resolv.conf).
pub fn resolver(dns_servers: &[SocketAddr]) -> Result<MessageAuthenticator, String> {
    if dns_servers.is_empty() {
        MessageAuthenticator::new_system_conf()
    } else {
        let servers = dns_servers
            .iter()
            .map(|s| {
                let (mut udp, mut tcp) = (ConnectionConfig::udp(), ConnectionConfig::tcp());
                udp.port = s.port();
                tcp.port = s.port();
                NameServerConfig::new(s.ip(), true, vec![udp, tcp])
            })
            .collect();
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(5);
        opts.attempts = 2;
        MessageAuthenticator::new(ResolverConfig::from_name_servers(servers), opts)
    }
    .map_err(|e| format!("cannot set up DNS: {e}"))
}

impl SenderAuth {
    pub fn new(
        authenticator: Arc<MessageAuthenticator>,
        hostname: &str,
        reject_dmarc_failures: bool,
    ) -> Self {
        Self {
            authenticator,
            hostname: hostname.to_string(),
            reject_dmarc_failures,
        }
    }

    /// Checks a message received from `ip`, which said `helo` and gave
    /// `mail_from` as the envelope sender.
    pub async fn check(&self, ip: IpAddr, helo: &str, mail_from: &str, raw: &[u8]) -> Verdict {
        match tokio::time::timeout(CHECK_TIMEOUT, self.check_inner(ip, helo, mail_from, raw)).await
        {
            Ok(v) => v,
            Err(_) => Verdict {
                header: format!(
                    "Authentication-Results: {}; none (checks timed out; sender not verified)\r\n",
                    self.hostname
                ),
                refuse: None,
                sender_verified: false,
            },
        }
    }

    async fn check_inner(&self, ip: IpAddr, helo: &str, mail_from: &str, raw: &[u8]) -> Verdict {
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            return Verdict {
                header: format!(
                    "Authentication-Results: {}; none (message header could not be parsed; sender not verified)\r\n",
                    self.hostname
                ),
                refuse: None,
                sender_verified: false,
            };
        };
        let dkim = self.authenticator.verify_dkim(&message).await;
        let spf = if mail_from.is_empty() {
            self.authenticator
                .verify_spf(SpfParameters::verify_ehlo(ip, helo, &self.hostname))
                .await
        } else {
            self.authenticator
                .verify_spf(SpfParameters::verify_mail_from(
                    ip,
                    helo,
                    &self.hostname,
                    mail_from,
                ))
                .await
        };
        let arc = self.authenticator.verify_arc(&message).await;
        let mail_from_domain = mail_from.rsplit_once('@').map(|(_, d)| d).unwrap_or(helo);
        let dmarc = self
            .authenticator
            .verify_dmarc(DmarcParameters::new(
                &message,
                &dkim,
                mail_from_domain,
                &spf,
            ))
            .await;
        let dmarc = complete_dmarc(dmarc, &spf, &dkim);
        let header = AuthenticationResults::new(&self.hostname)
            .with_dkim_results(&dkim, message.from())
            .with_spf_mailfrom_result(&spf, ip, mail_from, helo)
            .with_arc_result(&arc, ip)
            .with_dmarc_result(&dmarc);
        // A definite failure only: nothing aligned passed, and no side had a
        // temporary error (a DNS hiccup must never bounce clinical mail).
        let sides = [dmarc.spf_result(), dmarc.dkim_result()];
        let failed = sides.iter().any(|r| matches!(r, DmarcResult::Fail(_)))
            && !sides
                .iter()
                .any(|r| matches!(r, DmarcResult::Pass | DmarcResult::TempError(_)));
        let refuse = (self.reject_dmarc_failures && failed && dmarc.policy() == Policy::Reject)
            .then(|| {
                format!(
                    "The sender's domain {} asks that mail failing DMARC be rejected, and this message failed",
                    dmarc.domain()
                )
            });
        let sender_verified = (!mail_from.is_empty() && spf.result() == SpfResult::Pass)
            || sides.contains(&&DmarcResult::Pass);
        Verdict {
            header: mail_auth::common::headers::HeaderWriter::to_header(&header),
            refuse,
            sender_verified,
        }
    }
}

/// mail-auth 0.12 reports `dmarc=none` when the sender's domain publishes a
/// DMARC record but neither SPF nor DKIM passed, since it only records the
/// outcome of identifiers that passed. RFC 7489 §11.2 calls that `fail`, so
/// the SPF side is set to a failure here; a temporary DNS error on either
/// side becomes `temperror` instead, so it can never lead to a refusal.
fn complete_dmarc(dmarc: DmarcOutput, spf: &SpfOutput, dkim: &[DkimOutput<'_>]) -> DmarcOutput {
    let undecided = dmarc.dmarc_record().is_some()
        && dmarc.spf_result() == &DmarcResult::None
        && dmarc.dkim_result() != &DmarcResult::Pass;
    if !undecided {
        return dmarc;
    }
    let temporary = spf.result() == SpfResult::TempError
        || dkim
            .iter()
            .any(|d| matches!(d.result(), DkimResult::TempError(_)));
    let outcome = if temporary {
        DmarcResult::TempError(mail_auth::Error::Dns(mail_auth::DnsError::Resolver(
            "temporary DNS failure during SPF or DKIM".into(),
        )))
    } else {
        DmarcResult::Fail(mail_auth::Error::NotAligned)
    };
    dmarc.with_spf_result(outcome)
}

/// Removes `Authentication-Results:` fields that claim to come from this
/// server (authserv-id equal to `authserv_id`), as RFC 8601 §5 asks of a
/// border MTA: otherwise a sender could forge a "pass" that looks like ours.
/// Fields from other verifiers, and the body, are left exactly as received.
pub fn strip_forged_results<'a>(raw: &'a [u8], authserv_id: &str) -> Cow<'a, [u8]> {
    athen_mail::header::without(raw, |field| claims_to_be(field, authserv_id))
}

/// Whether one header field is an Authentication-Results field whose
/// authserv-id (RFC 8601 §2.2: the first token, after optional comments) is
/// `authserv_id`, compared without regard to case.
fn claims_to_be(field: &[u8], authserv_id: &str) -> bool {
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return false;
    };
    if !field[..colon]
        .trim_ascii_end()
        .eq_ignore_ascii_case(b"authentication-results")
    {
        return false;
    }
    let mut value = &field[colon + 1..];
    loop {
        value = value.trim_ascii_start();
        if value.first() != Some(&b'(') {
            break;
        }
        // Skip a comment, which may nest (RFC 5322 §3.2.2).
        let mut depth = 0usize;
        let mut end = value.len();
        for (i, &b) in value.iter().enumerate() {
            match b {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        value = &value[end..];
    }
    let token_end = value
        .iter()
        .position(|&b| b == b';' || b == b'(' || b.is_ascii_whitespace())
        .unwrap_or(value.len());
    value[..token_end].eq_ignore_ascii_case(authserv_id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn removes_only_fields_claiming_our_id() {
        let raw = b"Authentication-Results: (forged) MX.example.org;\r\n dkim=pass\r\n\
Authentication-Results: other.example; spf=fail\r\nSubject: hi\r\n\r\n\
Authentication-Results: mx.example.org; body line stays\r\n";
        let out = strip_forged_results(raw, "mx.example.org");
        assert_eq!(
            &out[..],
            &b"Authentication-Results: other.example; spf=fail\r\nSubject: hi\r\n\r\n\
Authentication-Results: mx.example.org; body line stays\r\n"[..]
        );
    }

    #[test]
    fn leaves_messages_without_such_fields_untouched() {
        let raw = b"Subject: hi\r\n\r\nbody";
        assert!(matches!(
            strip_forged_results(raw, "mx.example.org"),
            Cow::Borrowed(_)
        ));
    }

    proptest! {
        #[test]
        fn never_panics_and_only_removes_header_bytes(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
            let out = strip_forged_results(&raw, "mx.example.org");
            prop_assert!(out.len() <= raw.len());
            let body = &raw[crate::header_end(&raw)..];
            prop_assert!(out.ends_with(body));
        }

        #[test]
        fn unbalanced_comments_are_harmless(prefix in "[( )a-z;]{0,30}") {
            let raw = format!("Authentication-Results: {prefix}\r\n\r\n");
            let _ = strip_forged_results(raw.as_bytes(), "mx.example.org");
        }
    }
}
