//! Where mail for a domain goes: a configured route, a smarthost, the
//! localserve catch-all, or the domain's MX hosts (RFC 5321 §5.1), and how
//! each host's certificate must be checked: DANE (RFC 7672) where the host
//! publishes signed TLSA records, else the domain's MTA-STS policy
//! (RFC 8461), else opportunistic TLS.

use super::OutboundConfig;
use super::client::Target;
use super::dane::{DaneResolver, TlsaLookup};
use super::mta_sts::{Mode, MtaStsCache};
use super::tls_policy::CertCheck;
use athen_core::clock::UnixTime;
use mail_auth::MessageAuthenticator;
use mail_auth::hickory_resolver::proto::rr::RData;
use std::net::SocketAddr;
use zeroize::Zeroizing;

/// How the server sends mail to other domains.
#[derive(Clone, Debug)]
pub enum Routing {
    /// Look up MX records and connect to port 25 (production).
    Direct,
    /// Never leave the machine: keep the mail in a local catch-all folder
    /// the administrator can read (localserve).
    CatchAll,
    /// Hand everything to one relay.
    Smarthost(Smarthost),
}

#[derive(Clone, Debug)]
pub struct Smarthost {
    pub host: String,
    pub port: u16,
    pub implicit_tls: bool,
    pub auth: Option<(String, Zeroizing<String>)>,
    /// Check the relay's certificate against the trusted roots (default);
    /// off only for a relay on a private network with a self-made
    /// certificate.
    pub verify_certificate: bool,
}

/// A fixed destination for one domain (e.g. a partner's server on a
/// private network, or a test server on loopback).
#[derive(Clone, Debug)]
pub struct StaticRoute {
    pub domain: String,
    pub host: String,
    pub port: u16,
}

/// Why a domain cannot be reached.
#[derive(Debug)]
pub struct RouteFailure {
    pub temporary: bool,
    pub reason: String,
}

pub enum Destination {
    CatchAll,
    Hosts(Vec<Target>),
}

/// What [`resolve`] needs besides the configuration.
pub struct Lookups<'a> {
    pub dns: &'a MessageAuthenticator,
    pub mta_sts: &'a MtaStsCache,
    pub dane: Option<&'a DaneResolver>,
    pub now: UnixTime,
}

pub async fn resolve(
    domain: &str,
    config: &OutboundConfig,
    lookups: &Lookups<'_>,
) -> Result<Destination, RouteFailure> {
    let dns = lookups.dns;
    let plaintext_allowed = config
        .plaintext_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain));
    if let Some(route) = config
        .routes
        .iter()
        .find(|r| r.domain.eq_ignore_ascii_case(domain))
    {
        let addrs = addresses(&route.host, route.port, dns).await?;
        return Ok(Destination::Hosts(
            addrs
                .into_iter()
                .map(|addr| Target {
                    host: route.host.clone(),
                    addr,
                    implicit_tls: false,
                    plaintext_allowed,
                    auth: None,
                    // The operator chose this host; nothing published
                    // says which certificate it has.
                    cert_check: CertCheck::Opportunistic,
                })
                .collect(),
        ));
    }
    match &config.routing {
        Routing::CatchAll => Ok(Destination::CatchAll),
        Routing::Smarthost(relay) => {
            let addrs = addresses(&relay.host, relay.port, dns).await?;
            Ok(Destination::Hosts(
                addrs
                    .into_iter()
                    .map(|addr| Target {
                        host: relay.host.clone(),
                        addr,
                        implicit_tls: relay.implicit_tls,
                        plaintext_allowed: false,
                        auth: relay.auth.clone(),
                        cert_check: if relay.verify_certificate {
                            CertCheck::Pkix {
                                enforce: true,
                                because: "smarthost",
                            }
                        } else {
                            CertCheck::Opportunistic
                        },
                    })
                    .collect(),
            ))
        }
        Routing::Direct => {
            let hosts = mx_hosts(domain, dns).await?;
            let policy = lookups.mta_sts.policy(domain, dns, lookups.now).await;
            let mut targets = Vec::new();
            let mut skipped = Vec::new();
            for host in hosts {
                // RFC 8461 §4.1: under an enforced policy, MX hosts it does
                // not name are not used.
                if let Some(p) = &policy
                    && !p.allows(&host)
                {
                    if p.mode == Mode::Enforce {
                        skipped.push(format!("{host} is not named in {domain}'s MTA-STS policy"));
                        continue;
                    }
                    tracing::warn!(domain = %domain, host = %host, "MX host not named in the MTA-STS policy (testing mode: used anyway)");
                }
                // RFC 7672 §2.2: signed TLSA records take precedence over
                // MTA-STS (RFC 8461 §2).
                let tlsa = match lookups.dane {
                    Some(dane) => dane.tlsa(&host, config.mx_port).await,
                    None => TlsaLookup::NotApplicable("DANE is turned off"),
                };
                let cert_check = match (tlsa, &policy) {
                    (TlsaLookup::Failed(why), _) => {
                        skipped.push(why);
                        continue;
                    }
                    (TlsaLookup::Secure(records), _) => CertCheck::Dane(records),
                    (TlsaLookup::NotApplicable(_), Some(p)) => CertCheck::Pkix {
                        enforce: p.mode == Mode::Enforce,
                        because: "MTA-STS",
                    },
                    (TlsaLookup::NotApplicable(_), None) => CertCheck::Opportunistic,
                };
                // One unreachable MX name does not stop the others.
                match addresses(&host, config.mx_port, dns).await {
                    Ok(addrs) => targets.extend(addrs.into_iter().map(|addr| Target {
                        host: host.clone(),
                        addr,
                        implicit_tls: false,
                        plaintext_allowed: plaintext_allowed && !cert_check.requires_tls(),
                        auth: None,
                        cert_check: cert_check.clone(),
                    })),
                    Err(e) => {
                        tracing::debug!(host = %host, reason = %e.reason, "MX host has no address");
                        skipped.push(e.reason);
                    }
                }
            }
            if targets.is_empty() {
                let why = if skipped.is_empty() {
                    format!("no mail server of {domain} has an address")
                } else {
                    format!("no usable mail server for {domain}: {}", skipped.join("; "))
                };
                return Err(RouteFailure {
                    temporary: true,
                    reason: why,
                });
            }
            Ok(Destination::Hosts(targets))
        }
    }
}

/// MX host names in preference order; the domain itself when it has no MX
/// (RFC 5321 §5.1 implicit MX); an error for a null MX (RFC 7505) or a
/// domain that does not exist.
async fn mx_hosts(domain: &str, dns: &MessageAuthenticator) -> Result<Vec<String>, RouteFailure> {
    let name = format!("{}.", domain.trim_end_matches('.'));
    match dns.resolver().mx_lookup(name.as_str()).await {
        Ok(lookup) => {
            let mut mx: Vec<(u16, String)> = lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((
                        mx.preference,
                        mx.exchange
                            .to_lowercase()
                            .to_ascii()
                            .trim_end_matches('.')
                            .to_string(),
                    )),
                    _ => None,
                })
                .collect();
            if mx.len() == 1 && mx[0].1.is_empty() {
                return Err(RouteFailure {
                    temporary: false,
                    reason: format!("{domain} accepts no mail (null MX, RFC 7505)"),
                });
            }
            mx.sort_by_key(|(p, _)| *p);
            let hosts: Vec<String> = mx
                .into_iter()
                .map(|(_, h)| h)
                .filter(|h| !h.is_empty())
                .collect();
            if hosts.is_empty() {
                Ok(vec![domain.to_string()])
            } else {
                Ok(hosts)
            }
        }
        Err(e) if e.is_nx_domain() => Err(RouteFailure {
            temporary: false,
            reason: format!("the domain {domain} does not exist"),
        }),
        Err(e) if e.is_no_records_found() => Ok(vec![domain.to_string()]),
        Err(e) => Err(RouteFailure {
            temporary: true,
            reason: format!("DNS lookup of {domain}'s mail servers failed: {e}"),
        }),
    }
}

async fn addresses(
    host: &str,
    port: u16,
    dns: &MessageAuthenticator,
) -> Result<Vec<SocketAddr>, RouteFailure> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = format!("{}.", host.trim_end_matches('.'));
    match dns.resolver().lookup_ip(name.as_str()).await {
        Ok(lookup) => {
            let addrs: Vec<SocketAddr> =
                lookup.iter().map(|ip| SocketAddr::new(ip, port)).collect();
            if addrs.is_empty() {
                Err(RouteFailure {
                    temporary: true,
                    reason: format!("{host} has no address"),
                })
            } else {
                Ok(addrs)
            }
        }
        Err(e) => Err(RouteFailure {
            temporary: !e.is_nx_domain(),
            reason: format!("cannot find the address of {host}: {e}"),
        }),
    }
}
