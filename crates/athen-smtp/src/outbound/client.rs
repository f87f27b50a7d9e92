//! The SMTP client that hands queued mail to the next server (RFC 5321),
//! over STARTTLS (RFC 3207) or implicit TLS (RFC 8314). It never falls back
//! to plain text unless the operator named the domain as an exception.

use super::tls_policy::{CertCheck, TlsTrust, Verdict};
use athen_core::queue::{Notify, Ret};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use zeroize::Zeroizing;

/// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets; be generous.
const MAX_REPLY_LINE: usize = 4096;
const MAX_REPLY_LINES: usize = 100;

/// Where to connect and how.
#[derive(Clone, Debug)]
pub struct Target {
    /// The host name (for SNI, certificate checks and reports).
    pub host: String,
    pub addr: SocketAddr,
    /// TLS from the first byte (a smarthost on 465).
    pub implicit_tls: bool,
    /// The operator allowed plain text for this destination (logged loudly).
    pub plaintext_allowed: bool,
    /// SMTP AUTH PLAIN credentials (smarthost only).
    pub auth: Option<(String, Zeroizing<String>)>,
    /// How the server's certificate must be checked.
    pub cert_check: CertCheck,
}

/// Timeouts per RFC 5321 §4.5.3.2 (the client side).
#[derive(Clone, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    /// Greeting, EHLO, MAIL, RCPT, DATA-initiation: 5 minutes in the RFC.
    pub command: Duration,
    /// After the final dot: 10 minutes in the RFC.
    pub data_end: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(30),
            command: Duration::from_secs(5 * 60),
            data_end: Duration::from_secs(10 * 60),
        }
    }
}

pub struct Envelope<'a> {
    pub hostname: &'a str,
    pub mail_from: &'a str,
    pub envid: Option<&'a str>,
    pub ret: Option<Ret>,
    /// (address, ORCPT, NOTIFY)
    pub recipients: Vec<(&'a str, Option<&'a str>, Notify)>,
    /// The message, CRLF line endings.
    pub body: &'a [u8],
}

/// A server's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The text of all lines joined with spaces (for reports and logs).
    pub text: String,
}

impl Reply {
    pub fn summary(&self) -> String {
        format!("{} {}", self.code, self.text)
    }
}

/// What happened to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientOutcome {
    Accepted(Reply),
    Temporary(String),
    Permanent(String),
}

/// The result of a session that got as far as MAIL FROM.
#[derive(Debug)]
pub struct Delivered {
    pub outcomes: Vec<RecipientOutcome>,
    /// e.g. "TLS 1.3 (certificate not verified)".
    pub tls: String,
    /// The next server took the DSN parameters (RFC 3461), so it will
    /// report success itself.
    pub dsn_passed_on: bool,
}

/// A failure that concerns the whole session (connection, greeting, TLS…).
#[derive(Debug)]
pub struct SessionFailure {
    /// Worth trying another host or later.
    pub temporary: bool,
    pub reason: String,
}

fn temp(reason: impl Into<String>) -> SessionFailure {
    SessionFailure {
        temporary: true,
        reason: reason.into(),
    }
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf).await,
            Conn::Tls(s) => s.read(buf).await,
        }
    }
    async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(buf).await,
            Conn::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
        }
    }
}

struct Client {
    conn: Conn,
    buf: Vec<u8>,
    timeouts: Timeouts,
}

/// Parses one reply line: code, whether more lines follow, text.
pub fn parse_reply_line(line: &[u8]) -> Option<(u16, bool, &[u8])> {
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = (u16::from(line[0] - b'0')) * 100
        + (u16::from(line[1] - b'0')) * 10
        + u16::from(line[2] - b'0');
    if !(200..600).contains(&code) {
        return None;
    }
    match line.get(3) {
        None => Some((code, false, b"")),
        Some(b' ') => Some((code, false, &line[4..])),
        Some(b'-') => Some((code, true, &line[4..])),
        _ => None,
    }
}

impl Client {
    async fn read_line(&mut self, limit: Duration) -> Result<Vec<u8>, SessionFailure> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                while matches!(line.last(), Some(b'\n' | b'\r')) {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_REPLY_LINE {
                return Err(temp("the server sent a reply line that is too long"));
            }
            let mut chunk = [0u8; 2048];
            let n = tokio::time::timeout_at(deadline, self.conn.read(&mut chunk))
                .await
                .map_err(|_| temp("the server did not answer in time"))?
                .map_err(|e| temp(format!("connection lost: {e}")))?;
            if n == 0 {
                return Err(temp("the server closed the connection"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn reply(&mut self, limit: Duration) -> Result<Reply, SessionFailure> {
        let mut text = Vec::new();
        for _ in 0..MAX_REPLY_LINES {
            let line = self.read_line(limit).await?;
            let Some((code, more, rest)) = parse_reply_line(&line) else {
                return Err(temp("the server's reply is not valid SMTP"));
            };
            text.push(String::from_utf8_lossy(rest).trim().to_string());
            if !more {
                return Ok(Reply {
                    code,
                    text: text.join(" "),
                });
            }
        }
        Err(temp("the server's reply has too many lines"))
    }

    async fn command(&mut self, line: &str) -> Result<Reply, SessionFailure> {
        self.conn
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| temp(format!("connection lost: {e}")))?;
        let limit = self.timeouts.command;
        self.reply(limit).await
    }
}

/// EHLO keywords we care about.
#[derive(Default)]
struct Extensions {
    starttls: bool,
    dsn: bool,
    size: bool,
    auth_plain: bool,
}

fn extensions(lines: &str) -> Extensions {
    let mut e = Extensions::default();
    for word in lines.split(' ') {
        match word.to_ascii_uppercase().as_str() {
            "STARTTLS" => e.starttls = true,
            "DSN" => e.dsn = true,
            "SIZE" => e.size = true,
            "PLAIN" => e.auth_plain = true,
            _ => {}
        }
    }
    e
}

/// RFC 3461 §4: xtext for ENVID and ORCPT values.
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Hands one message to one server. Errors before MAIL FROM's answer are
/// session failures (try the next host); after that every recipient has
/// its own outcome.
pub async fn deliver(
    target: &Target,
    envelope: &Envelope<'_>,
    trust: &TlsTrust,
    timeouts: &Timeouts,
) -> Result<Delivered, SessionFailure> {
    let (tls_config, verdict) = trust.client_config(&target.cert_check);
    let tls = TlsConnector::from(tls_config);
    let tcp = tokio::time::timeout(timeouts.connect, TcpStream::connect(target.addr))
        .await
        .map_err(|_| temp(format!("no connection to {} in time", target.host)))?
        .map_err(|e| {
            temp(format!(
                "cannot connect to {} ({}): {e}",
                target.host, target.addr
            ))
        })?;
    let server_name = rustls_pki_types::ServerName::try_from(target.host.clone())
        .map_err(|_| temp(format!("{:?} is not a valid host name", target.host)))?;
    let mut client = Client {
        conn: Conn::Plain(tcp),
        buf: Vec::new(),
        timeouts: timeouts.clone(),
    };
    let mut tls_info = String::from("none");
    if target.implicit_tls {
        let Conn::Plain(tcp) = client.conn else {
            unreachable!()
        };
        let stream = tls
            .connect(server_name.clone(), tcp)
            .await
            .map_err(|e| temp(format!("TLS with {} failed: {e}", target.host)))?;
        tls_info = describe_tls(&stream, &verdict);
        client.conn = Conn::Tls(Box::new(stream));
    }
    let greeting = client.reply(timeouts.command).await?;
    if greeting.code != 220 {
        return Err(temp(format!("greeting: {}", greeting.summary())));
    }
    let mut ehlo = client
        .command(&format!("EHLO {}", envelope.hostname))
        .await?;
    if ehlo.code != 250 {
        return Err(temp(format!("EHLO: {}", ehlo.summary())));
    }
    let mut ext = extensions(&ehlo.text);
    if let Conn::Plain(_) = client.conn {
        if ext.starttls {
            let r = client.command("STARTTLS").await?;
            if r.code != 220 {
                return Err(temp(format!("STARTTLS: {}", r.summary())));
            }
            let Conn::Plain(tcp) = client.conn else {
                unreachable!()
            };
            // RFC 3207 §4.2: forget everything said before TLS.
            client.buf.clear();
            let stream = tls
                .connect(server_name, tcp)
                .await
                .map_err(|e| temp(format!("TLS with {} failed: {e}", target.host)))?;
            tls_info = describe_tls(&stream, &verdict);
            client.conn = Conn::Tls(Box::new(stream));
            ehlo = client
                .command(&format!("EHLO {}", envelope.hostname))
                .await?;
            if ehlo.code != 250 {
                return Err(temp(format!("EHLO after STARTTLS: {}", ehlo.summary())));
            }
            ext = extensions(&ehlo.text);
        } else if target.plaintext_allowed {
            tracing::warn!(host = %target.host, "sending WITHOUT TLS: this destination is configured as a plain-text exception");
            tls_info = "none (plain-text exception configured by the operator)".into();
        } else {
            let _ = client.command("QUIT").await;
            return Err(temp(format!(
                "{} does not offer STARTTLS, and ATHEN never sends mail unencrypted",
                target.host
            )));
        }
    }
    if let Some((user, password)) = &target.auth {
        if !ext.auth_plain {
            return Err(temp(format!("{} does not offer AUTH PLAIN", target.host)));
        }
        use base64::Engine;
        let token = Zeroizing::new(format!("\0{user}\0{}", password.as_str()));
        let b64 =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(token.as_bytes()));
        let r = client
            .command(&format!("AUTH PLAIN {}", b64.as_str()))
            .await?;
        if r.code != 235 {
            return Err(SessionFailure {
                temporary: r.code < 500,
                reason: format!("AUTH at {}: {}", target.host, r.summary()),
            });
        }
    }

    let mut mail = format!("MAIL FROM:<{}>", envelope.mail_from);
    if ext.size {
        mail.push_str(&format!(" SIZE={}", envelope.body.len()));
    }
    if ext.dsn {
        if let Some(ret) = envelope.ret {
            mail.push_str(match ret {
                Ret::Full => " RET=FULL",
                Ret::Headers => " RET=HDRS",
            });
        }
        if let Some(envid) = envelope.envid {
            mail.push_str(&format!(" ENVID={}", xtext(envid)));
        }
    }
    let r = client.command(&mail).await?;
    if r.code / 100 != 2 {
        let why = format!("MAIL FROM at {}: {}", target.host, r.summary());
        let _ = client.command("QUIT").await;
        let outcome = if r.code >= 500 {
            RecipientOutcome::Permanent(why)
        } else {
            RecipientOutcome::Temporary(why)
        };
        return Ok(Delivered {
            outcomes: vec![outcome; envelope.recipients.len()],
            tls: tls_info,
            dsn_passed_on: false,
        });
    }
    let mut outcomes: Vec<Option<RecipientOutcome>> = Vec::new();
    for (address, orcpt, notify) in &envelope.recipients {
        let mut rcpt = format!("RCPT TO:<{address}>");
        if ext.dsn {
            rcpt.push_str(&format!(" NOTIFY={}", notify.as_param()));
            if let Some(orcpt) = orcpt {
                let (kind, addr) = orcpt.split_once(';').unwrap_or(("rfc822", orcpt));
                rcpt.push_str(&format!(" ORCPT={kind};{}", xtext(addr)));
            }
        }
        let r = client.command(&rcpt).await?;
        outcomes.push(match r.code / 100 {
            2 => None,
            5 => Some(RecipientOutcome::Permanent(format!(
                "RCPT TO at {}: {}",
                target.host,
                r.summary()
            ))),
            _ => Some(RecipientOutcome::Temporary(format!(
                "RCPT TO at {}: {}",
                target.host,
                r.summary()
            ))),
        });
    }
    if outcomes.iter().all(Option::is_some) {
        let _ = client.command("QUIT").await;
        return Ok(Delivered {
            outcomes: outcomes.into_iter().flatten().collect(),
            tls: tls_info,
            dsn_passed_on: false,
        });
    }
    let r = client.command("DATA").await?;
    let data_outcome = if r.code == 354 {
        let mut stuffed = Zeroizing::new(dot_stuff(envelope.body));
        stuffed.extend_from_slice(b".\r\n");
        client
            .conn
            .write_all(&stuffed)
            .await
            .map_err(|e| temp(format!("connection lost while sending: {e}")))?;
        let limit = timeouts.data_end;
        client.reply(limit).await?
    } else {
        r
    };
    let final_outcome = match data_outcome.code / 100 {
        2 => RecipientOutcome::Accepted(data_outcome.clone()),
        5 => RecipientOutcome::Permanent(format!(
            "end of data at {}: {}",
            target.host,
            data_outcome.summary()
        )),
        _ => RecipientOutcome::Temporary(format!(
            "end of data at {}: {}",
            target.host,
            data_outcome.summary()
        )),
    };
    let _ = client.command("QUIT").await;
    Ok(Delivered {
        outcomes: outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| final_outcome.clone()))
            .collect(),
        tls: tls_info,
        dsn_passed_on: ext.dsn,
    })
}

fn describe_tls<IO>(stream: &TlsStream<IO>, verdict: &Verdict) -> String {
    let (_, conn) = stream.get_ref();
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
        _ => "TLS",
    };
    let verdict = verdict
        .get()
        .unwrap_or_else(|| "certificate not checked".into());
    format!("{version}, {verdict}")
}

/// RFC 5321 §4.5.2: a line starting with "." gets another "."; makes sure
/// the message ends with CRLF.
pub fn dot_stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 4);
    let mut at_line_start = true;
    for &b in body {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        if out.ends_with(b"\r") {
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reply_lines() {
        assert_eq!(
            parse_reply_line(b"250-PIPELINING"),
            Some((250, true, &b"PIPELINING"[..]))
        );
        assert_eq!(parse_reply_line(b"250 OK"), Some((250, false, &b"OK"[..])));
        assert_eq!(parse_reply_line(b"220"), Some((220, false, &b""[..])));
        assert_eq!(parse_reply_line(b"2x0 OK"), None);
        assert_eq!(parse_reply_line(b"999 no"), None);
        assert_eq!(parse_reply_line(b"250_x"), None);
    }

    #[test]
    fn dot_stuffing_and_xtext() {
        assert_eq!(dot_stuff(b".a\r\nb\r\n.\r\n"), b"..a\r\nb\r\n..\r\n");
        assert_eq!(dot_stuff(b"no newline"), b"no newline\r\n");
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
    }

    proptest! {
        #[test]
        fn reply_parser_never_panics(line in proptest::collection::vec(any::<u8>(), 0..20)) {
            let _ = parse_reply_line(&line);
        }

        #[test]
        fn stuffed_body_has_no_lone_dot_line(body in "[a-z.\r\n]{0,60}") {
            let stuffed = dot_stuff(body.as_bytes());
            prop_assert!(!stuffed.windows(5).any(|w| w == b"\r\n.\r\n"));
        }
    }
}
