//! TLSA lookups for DANE (RFC 7672 §2.2).
//!
//! DANE needs to know whether an answer was DNSSEC-validated. Like Postfix,
//! ATHEN asks the configured resolver (which must validate and should run on
//! the same machine, e.g. unbound) with the AD bit set (RFC 6840 §5.7) and
//! trusts the AD bit of its answer. A resolver that does not validate never
//! sets it, and DANE then simply never applies.

use super::tls_policy::Tlsa;
use mail_auth::hickory_resolver::proto::op::{Edns, Message, Query, ResponseCode};
use mail_auth::hickory_resolver::proto::rr::{Name, RData, RecordType};
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const TIMEOUT: Duration = Duration::from_secs(5);
/// RFC 9715 / DNS flag day 2020: a payload size that avoids fragmentation.
const UDP_PAYLOAD: u16 = 1232;

/// What the DNS says about a host's TLSA records.
#[derive(Debug, PartialEq, Eq)]
pub enum TlsaLookup {
    /// Validated records, at least one usable: DANE applies.
    Secure(Vec<Tlsa>),
    /// No validated usable records (none published, an unsigned zone, or a
    /// resolver that does not validate): DANE does not apply.
    NotApplicable(&'static str),
    /// The lookup failed for a signed name (RFC 7672 §2.2: the host must not
    /// be used, as an attacker may be hiding its records).
    Failed(String),
}

/// The resolvers to ask, in order.
#[derive(Clone, Debug)]
pub struct DaneResolver {
    pub servers: Vec<SocketAddr>,
}

impl DaneResolver {
    /// The servers in `configured`, else those of `/etc/resolv.conf`.
    pub fn new(configured: &[SocketAddr]) -> Self {
        let servers = if configured.is_empty() {
            system_servers()
        } else {
            configured.to_vec()
        };
        Self { servers }
    }

    /// The TLSA records of `_PORT._tcp.HOST` (RFC 6698 §3).
    pub async fn tlsa(&self, host: &str, port: u16) -> TlsaLookup {
        let name = format!("_{port}._tcp.{}.", host.trim_end_matches('.'));
        let Ok(qname) = Name::from_str(&name) else {
            return TlsaLookup::NotApplicable("the host name is not a DNS name");
        };
        let answer = match self.query(&qname, RecordType::TLSA).await {
            Ok(a) => a,
            Err(e) => return self.failed_if_signed(host, e).await,
        };
        match answer.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            code => {
                return self
                    .failed_if_signed(host, format!("the resolver said {code}"))
                    .await;
            }
        }
        if !answer.metadata.authentic_data {
            return TlsaLookup::NotApplicable("the TLSA answer is not DNSSEC-validated");
        }
        let records: Vec<Tlsa> = answer
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TLSA(t) => Some(Tlsa {
                    usage: t.cert_usage.into(),
                    selector: t.selector.into(),
                    matching: t.matching.into(),
                    data: t.cert_data.clone(),
                }),
                _ => None,
            })
            .filter(Tlsa::usable)
            .collect();
        if records.is_empty() {
            TlsaLookup::NotApplicable("no usable TLSA records")
        } else {
            TlsaLookup::Secure(records)
        }
    }

    /// RFC 7672 §2.2.2: a failed TLSA lookup only matters when the host's
    /// own address records are signed; for an unsigned host DANE would not
    /// apply anyway.
    async fn failed_if_signed(&self, host: &str, why: String) -> TlsaLookup {
        let signed = match Name::from_str(&format!("{}.", host.trim_end_matches('.'))) {
            Ok(name) => match self.query(&name, RecordType::A).await {
                Ok(a) => a.metadata.authentic_data,
                Err(_) => false,
            },
            Err(_) => false,
        };
        if signed {
            TlsaLookup::Failed(format!(
                "TLSA lookup for the signed host {host} failed: {why}"
            ))
        } else {
            TlsaLookup::NotApplicable("no DNSSEC-validated answer")
        }
    }

    async fn query(&self, name: &Name, rtype: RecordType) -> Result<Message, String> {
        let mut last = String::from("no DNS resolver is configured");
        for server in &self.servers {
            match tokio::time::timeout(TIMEOUT, ask(*server, name, rtype)).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(e)) => last = format!("{server}: {e}"),
                Err(_) => last = format!("{server}: no answer in time"),
            }
        }
        Err(last)
    }
}

fn request(name: &Name, rtype: RecordType) -> Result<(u16, Vec<u8>), String> {
    let mut msg = Message::query();
    msg.add_query(Query::query(name.clone(), rtype));
    msg.metadata.recursion_desired = true;
    // RFC 6840 §5.7: AD in a query asks for AD in the answer; the DO bit
    // (RFC 3225) is set too, for resolvers that only look at that.
    msg.metadata.authentic_data = true;
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_PAYLOAD);
    edns.set_dnssec_ok(true);
    msg.set_edns(edns);
    let id = msg.metadata.id;
    msg.to_vec().map(|b| (id, b)).map_err(|e| e.to_string())
}

/// One question over UDP, repeated over TCP when the answer is truncated
/// (RFC 7766).
async fn ask(server: SocketAddr, name: &Name, rtype: RecordType) -> Result<Message, String> {
    let (id, bytes) = request(name, rtype)?;
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    sock.connect(server).await.map_err(|e| e.to_string())?;
    sock.send(&bytes).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_535];
    let answer = loop {
        let n = sock.recv(&mut buf).await.map_err(|e| e.to_string())?;
        match Message::from_vec(&buf[..n]) {
            // Ignore stray datagrams that do not answer our question.
            Ok(m) if m.metadata.id == id && m.queries.first().map(|q| q.name()) == Some(name) => {
                break m;
            }
            _ => continue,
        }
    };
    if !answer.metadata.truncation {
        return Ok(answer);
    }
    let (id, bytes) = request(name, rtype)?;
    let mut tcp = TcpStream::connect(server)
        .await
        .map_err(|e| e.to_string())?;
    let len = u16::try_from(bytes.len()).map_err(|_| "query too long".to_string())?;
    tcp.write_all(&len.to_be_bytes())
        .await
        .map_err(|e| e.to_string())?;
    tcp.write_all(&bytes).await.map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    tcp.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    let answer = Message::from_vec(&buf).map_err(|e| e.to_string())?;
    if answer.metadata.id != id {
        return Err("the answer does not match the question".into());
    }
    Ok(answer)
}

fn system_servers() -> Vec<SocketAddr> {
    match mail_auth::hickory_resolver::system_conf::read_system_conf() {
        Ok((config, _)) => config
            .name_servers()
            .iter()
            .map(|ns| SocketAddr::new(ns.ip, 53))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the system's DNS resolvers: DANE is off");
            Vec::new()
        }
    }
}
