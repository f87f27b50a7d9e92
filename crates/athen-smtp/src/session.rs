//! One SMTP conversation on the MX port.
//!
//! State machine per RFC 5321 §4.1.4 (command order) with STARTTLS per
//! RFC 3207: before TLS only EHLO/HELO, STARTTLS, NOOP, RSET, QUIT and HELP
//! are served; MAIL gets `530 5.7.0`. After the TLS handshake every
//! earlier state is forgotten and the client must say EHLO again (§4.2).

use crate::reply::{self, Reply};
use crate::submission::{self, LocalRecipient, Lookup, Sender};
use crate::{Mode, MxContext};
use athen_core::account::Doors;
use athen_core::clock::rfc5322;
use athen_core::mailbox::Mailbox;
use athen_vault::VaultError;
use athen_vault::auth::Unlocked;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN, Error as ProtoError, Request};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zeroize::{Zeroize, Zeroizing};

/// The connection, before or after STARTTLS.
enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Only while the plain socket is handed to the TLS acceptor.
    Closed,
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "connection closed")
}

impl Io {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Io::Plain(s) => s.read(buf).await,
            Io::Tls(s) => s.read(buf).await,
            Io::Closed => Err(closed()),
        }
    }
    async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Io::Plain(s) => s.write_all(buf).await,
            Io::Tls(s) => s.write_all(buf).await,
            Io::Closed => Err(closed()),
        }
    }
    async fn shutdown(&mut self) {
        let _ = match self {
            Io::Plain(s) => AsyncWriteExt::shutdown(s).await,
            Io::Tls(s) => AsyncWriteExt::shutdown(s).await,
            Io::Closed => Ok(()),
        };
    }
}

/// Where the conversation is.
#[derive(Default)]
struct Transaction {
    helo: Option<String>,
    esmtp: bool,
    mail_from: Option<String>,
    recipients: Vec<LocalRecipient>,
    /// Submission: recipients on other servers, for the outbound queue.
    remote: Vec<crate::outbound::OutboundRecipient>,
    /// RFC 3461 ENVID and RET from MAIL FROM.
    envid: Option<String>,
    ret: Option<athen_core::queue::Ret>,
    /// Message text received so far with BDAT (RFC 3030).
    chunks: Zeroizing<Vec<u8>>,
    /// A BDAT chunk pushed the message over the size limit.
    chunks_too_big: bool,
}

enum Next {
    Continue,
    StartTls,
    Data,
    /// BDAT: `size` octets of message follow the command (RFC 3030 §2).
    Bdat {
        size: usize,
        last: bool,
    },
    Quit,
}

/// A SASL exchange waiting for the client's next line (RFC 4954 §4).
enum AuthStep {
    /// PLAIN without an initial response: waiting for it.
    Plain,
    /// LOGIN: waiting for the user name.
    LoginUser,
    /// LOGIN: have the user name, waiting for the password.
    LoginPassword(String),
}

/// RFC 4954 §4: an AUTH line may be up to 12288 octets.
const MAX_AUTH_LINE: usize = 12_288;

pub struct Session {
    ctx: Arc<MxContext>,
    peer: SocketAddr,
    mode: Mode,
    tls: bool,
    tx: Transaction,
    errors: u32,
    /// The logged-in user on the submission ports; its key is dropped with
    /// the session.
    user: Option<Unlocked>,
    auth: Option<AuthStep>,
    /// Part of an AUTH continuation line not yet complete.
    auth_line: Vec<u8>,
}

/// Serves one connection to its end.
pub async fn serve(ctx: Arc<MxContext>, stream: TcpStream, peer: SocketAddr, mode: Mode) {
    let mut s = Session {
        ctx,
        peer,
        mode,
        tls: false,
        tx: Transaction::default(),
        errors: 0,
        user: None,
        auth: None,
        auth_line: Vec::new(),
    };
    let mut io = Io::Plain(stream);
    if mode == (Mode::Submission { implicit_tls: true }) {
        // RFC 8314 §3.3: TLS from the first byte.
        let Io::Plain(tcp) = std::mem::replace(&mut io, Io::Closed) else {
            return;
        };
        match tokio::time::timeout(std::time::Duration::from_secs(30), s.ctx.tls.accept(tcp)).await
        {
            Ok(Ok(t)) => {
                io = Io::Tls(Box::new(t));
                s.tls = true;
            }
            _ => return,
        }
    }
    if let Err(e) = s.run(&mut io).await {
        tracing::debug!(peer = %s.peer, error = %e, "SMTP connection ended");
    }
    io.shutdown().await;
}

async fn send(io: &mut Io, r: &Reply) -> std::io::Result<()> {
    let mut out = Vec::new();
    r.write_to(&mut out);
    io.write_all(&out).await
}

impl Session {
    async fn run(&mut self, io: &mut Io) -> std::io::Result<()> {
        let host = self.ctx.config.hostname.clone();
        send(
            io,
            &Reply::new(220, format!("{host} ESMTP ATHEN ready; TLS required")),
        )
        .await?;
        let mut receiver = RequestReceiver::default();
        let mut buf = vec![0u8; 16 * 1024];
        // Bytes received but not yet processed (e.g. commands pipelined
        // after the end of a message).
        let mut pending: Vec<u8> = Vec::new();
        loop {
            if pending.is_empty() {
                let n =
                    match tokio::time::timeout(self.ctx.config.command_timeout, io.read(&mut buf))
                        .await
                    {
                        Ok(r) => r?,
                        Err(_) => {
                            send(io, &reply::timeout(&host)).await?;
                            return Ok(());
                        }
                    };
                if n == 0 {
                    return Ok(());
                }
                pending.extend_from_slice(&buf[..n]);
            }
            let input = std::mem::take(&mut pending);
            let mut bytes = input.iter();
            let mut out = Vec::new();
            let mut next = Next::Continue;
            // RFC 2920 (PIPELINING): answer every complete command in the buffer.
            while !bytes.as_slice().is_empty() {
                if self.auth.is_some() {
                    // A SASL continuation line, not a command.
                    let rest = bytes.as_slice();
                    let Some(end) = rest.iter().position(|b| *b == b'\n') else {
                        self.auth_line.extend_from_slice(rest);
                        bytes = [].iter();
                        if self.auth_line.len() > MAX_AUTH_LINE {
                            self.auth = None;
                            self.auth_line.clear();
                            reply::line_too_long().write_to(&mut out);
                        }
                        break;
                    };
                    self.auth_line.extend_from_slice(&rest[..end]);
                    bytes = rest[end + 1..].iter();
                    let line = Zeroizing::new(std::mem::take(&mut self.auth_line));
                    let r = self.auth_continue(&line).await;
                    if !r.is_positive() && r.code != 334 {
                        self.errors += 1;
                    }
                    r.write_to(&mut out);
                    continue;
                }
                let reply = match receiver.ingest(&mut bytes) {
                    Ok(req) => {
                        let req = req.into_owned();
                        let (r, n) = self.command(req).await;
                        next = n;
                        r
                    }
                    Err(ProtoError::NeedsMoreData { .. }) => break,
                    Err(ProtoError::ResponseTooLong) => reply::line_too_long(),
                    Err(ProtoError::UnknownCommand) => reply::unknown_command(),
                    Err(ProtoError::InvalidSenderAddress) => {
                        reply::syntax("The sender address is not valid")
                    }
                    Err(ProtoError::InvalidRecipientAddress) => {
                        reply::syntax("The recipient address is not valid")
                    }
                    Err(ProtoError::SyntaxError { syntax }) => {
                        reply::syntax(&format!("Syntax: {syntax}"))
                    }
                    Err(ProtoError::InvalidParameter { param }) => {
                        reply::syntax(&format!("Invalid parameter {param}"))
                    }
                    Err(ProtoError::UnsupportedParameter { param }) => Reply::new(
                        555,
                        format!(
                            "5.5.4 Unsupported parameter {}",
                            param.chars().take(40).collect::<String>()
                        ),
                    ),
                    Err(_) => reply::syntax("Invalid command"),
                };
                if matches!(next, Next::Bdat { .. }) {
                    // Answered after the chunk has been read.
                    break;
                }
                // Unknown recipients count too (Postfix's
                // smtpd_hard_error_limit): a session guessing addresses
                // ends after max_errors.
                if !reply.is_positive() && reply.code != 530 && reply.code != 452 {
                    self.errors += 1;
                }
                reply.write_to(&mut out);
                if self.errors >= self.ctx.config.max_errors {
                    reply::too_many_errors().write_to(&mut out);
                    io.write_all(&out).await?;
                    return Ok(());
                }
                if !matches!(next, Next::Continue) {
                    break;
                }
            }
            io.write_all(&out).await?;
            match next {
                Next::Continue => {}
                Next::Quit => return Ok(()),
                Next::StartTls => {
                    // RFC 3207 §5: anything the client pipelined after STARTTLS
                    // is discarded (it could be injected in the clear).
                    receiver = RequestReceiver::default();
                    let Io::Plain(tcp) = std::mem::replace(io, Io::Closed) else {
                        return Ok(());
                    };
                    let tls = match tokio::time::timeout(
                        std::time::Duration::from_secs(30),
                        self.ctx.tls.accept(tcp),
                    )
                    .await
                    {
                        Ok(Ok(t)) => t,
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %self.peer, error = %e, "STARTTLS handshake failed");
                            return Ok(());
                        }
                        Err(_) => return Ok(()),
                    };
                    *io = Io::Tls(Box::new(tls));
                    self.tls = true;
                    self.tx = Transaction::default();
                }
                Next::Data => {
                    let (r, leftover) = self.data(io, bytes.as_slice()).await?;
                    send(io, &r).await?;
                    self.reset();
                    pending = leftover;
                }
                Next::Bdat { size, last } => {
                    let (r, leftover) = self.bdat(io, bytes.as_slice(), size, last).await?;
                    send(io, &r).await?;
                    pending = leftover;
                }
            }
        }
    }

    fn reset(&mut self) {
        self.tx.mail_from = None;
        self.tx.recipients.clear();
        self.tx.remote.clear();
        self.tx.envid = None;
        self.tx.ret = None;
        self.tx.chunks.clear();
        self.tx.chunks_too_big = false;
    }

    /// Reads more message text within the data timeout (RFC 5321
    /// §4.5.3.2.5); a timeout is answered with 421 and ends the session, as
    /// does the client closing the connection mid-message.
    async fn read_message_data(
        &self,
        io: &mut Io,
        buf: &mut [u8],
        during: &str,
    ) -> std::io::Result<usize> {
        let n = match tokio::time::timeout(self.ctx.config.data_timeout, io.read(buf)).await {
            Ok(r) => r?,
            Err(_) => {
                send(io, &reply::timeout(&self.ctx.config.hostname)).await?;
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("timeout during {during}"),
                ));
            }
        };
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("connection closed during {during}"),
            ));
        }
        Ok(n)
    }

    /// Reads one BDAT chunk (RFC 3030); on the last one, stores the message.
    /// Returns the reply and any bytes that followed the chunk.
    async fn bdat(
        &mut self,
        io: &mut Io,
        already: &[u8],
        size: usize,
        last: bool,
    ) -> std::io::Result<(Reply, Vec<u8>)> {
        let max = self.ctx.config.max_message_bytes;
        let mut have = already.to_vec();
        let mut buf = vec![0u8; 64 * 1024];
        let mut taken = 0usize;
        // Keep at most the limit; read (and drop) the rest of an oversized chunk.
        loop {
            let want = size - taken;
            let n = want.min(have.len());
            if !self.tx.chunks_too_big {
                self.tx.chunks.extend_from_slice(&have[..n]);
                if self.tx.chunks.len() > max {
                    self.tx.chunks_too_big = true;
                    self.tx.chunks.clear();
                }
            }
            taken += n;
            have.drain(..n);
            if taken == size {
                break;
            }
            let got = self.read_message_data(io, &mut buf, "BDAT").await?;
            have.extend_from_slice(&buf[..got]);
        }
        let refusal = if !self.tls && self.mode == Mode::Mx {
            Some(reply::must_starttls())
        } else if self.tx.mail_from.is_none() {
            Some(reply::bad_sequence("Need MAIL FROM first"))
        } else if self.tx.recipients.is_empty() && self.tx.remote.is_empty() {
            Some(Reply::new(554, "5.5.1 No valid recipients"))
        } else {
            None
        };
        if let Some(r) = refusal {
            self.reset();
            return Ok((r, have));
        }
        if !last {
            return Ok((
                Reply::new(250, format!("2.0.0 {size} octets received")),
                have,
            ));
        }
        let reply = if self.tx.chunks_too_big {
            reply::too_big(max)
        } else {
            let message = std::mem::take(&mut self.tx.chunks);
            self.store_message(&message).await
        };
        self.reset();
        Ok((reply, have))
    }

    async fn command(&mut self, req: Request<String>) -> (Reply, Next) {
        let host = self.ctx.config.hostname.clone();
        match req {
            Request::Ehlo { host: client } => {
                self.reset();
                self.tx.helo = Some(client.clone());
                self.tx.esmtp = true;
                let mut lines = vec![format!("{host} greets {client}")];
                lines.push("PIPELINING".into());
                lines.push(format!("SIZE {}", self.ctx.config.max_message_bytes));
                lines.push("8BITMIME".into());
                lines.push("ENHANCEDSTATUSCODES".into());
                lines.push("CHUNKING".into());
                lines.push("SMTPUTF8".into());
                if !self.tls {
                    lines.push("STARTTLS".into());
                } else {
                    if matches!(self.mode, Mode::Submission { .. }) {
                        // RFC 4954 §4: offer AUTH only where the password is protected.
                        lines.push("AUTH PLAIN LOGIN".into());
                    }
                    // RFC 3461: RET, ENVID, NOTIFY and ORCPT are kept; local
                    // delivery reports "delivered" when asked, and the queue
                    // reports failures, delays and relays.
                    lines.push("DSN".into());
                }
                (Reply::multi(250, lines), Next::Continue)
            }
            Request::Helo { host: client } => {
                self.reset();
                self.tx.helo = Some(client);
                self.tx.esmtp = false;
                (Reply::new(250, host), Next::Continue)
            }
            Request::Lhlo { .. } => (reply::unknown_command(), Next::Continue),
            Request::StartTls => {
                if self.tls {
                    (reply::bad_sequence("TLS is already active"), Next::Continue)
                } else if !self.tx.esmtp {
                    (reply::bad_sequence("Say EHLO first"), Next::Continue)
                } else {
                    (Reply::new(220, "2.0.0 Ready to start TLS"), Next::StartTls)
                }
            }
            Request::Mail { from } => {
                if !self.tls {
                    return (reply::must_starttls(), Next::Continue);
                }
                if self.tx.helo.is_none() {
                    return (reply::bad_sequence("Say EHLO first"), Next::Continue);
                }
                if self.tx.mail_from.is_some() {
                    return (
                        reply::bad_sequence("Sender already given; use RSET to start again"),
                        Next::Continue,
                    );
                }
                if let Mode::Submission { .. } = self.mode {
                    // Each letter asks again whether the login may still
                    // send: suspended, closed, turned off or a revoked
                    // token ends it here, not at the end of the connection.
                    if let Err(r) = self.login_still_valid().await {
                        return (r, Next::Continue);
                    }
                    let Some(user) = &self.user else {
                        return (
                            Reply::new(530, "5.7.0 Authentication required: log in first"),
                            Next::Continue,
                        );
                    };
                    if !from.address.eq_ignore_ascii_case(&user.account.address) {
                        return (
                            Reply::new(
                                553,
                                format!(
                                    "5.7.1 You may send only as {}; the sender address is not yours",
                                    user.account.address
                                ),
                            ),
                            Next::Continue,
                        );
                    }
                }
                // RFC 1870 §6.2: refuse a declared size over the limit at once.
                if from.size > self.ctx.config.max_message_bytes {
                    return (
                        reply::too_big(self.ctx.config.max_message_bytes),
                        Next::Continue,
                    );
                }
                // RFC 3461 §4.4: ENVID is printable US-ASCII, at most 100
                // characters once xtext is decoded.
                if let Some(envid) = &from.env_id
                    && (envid.len() > 100 || !envid.bytes().all(|b| (b' '..=b'~').contains(&b)))
                {
                    return (
                        Reply::new(
                            501,
                            "5.5.4 ENVID must be at most 100 printable ASCII characters",
                        ),
                        Next::Continue,
                    );
                }
                self.tx.envid = from.env_id.clone();
                self.tx.ret = if from.flags & smtp_proto::MAIL_RET_HDRS != 0 {
                    Some(athen_core::queue::Ret::Headers)
                } else if from.flags & smtp_proto::MAIL_RET_FULL != 0 {
                    Some(athen_core::queue::Ret::Full)
                } else {
                    None
                };
                self.tx.mail_from = Some(from.address);
                (Reply::new(250, "2.1.0 Sender OK"), Next::Continue)
            }
            Request::Rcpt { to } => {
                if !self.tls {
                    return (reply::must_starttls(), Next::Continue);
                }
                if self.tx.mail_from.is_none() {
                    return (reply::bad_sequence("Need MAIL FROM first"), Next::Continue);
                }
                if self.tx.recipients.len() + self.tx.remote.len() >= self.ctx.config.max_recipients
                {
                    return (
                        reply::too_many_recipients(self.ctx.config.max_recipients),
                        Next::Continue,
                    );
                }
                // RFC 3461 §4.2: an ORCPT address is one printable line.
                if to
                    .orcpt
                    .as_ref()
                    .is_some_and(|a| a.chars().any(char::is_control))
                {
                    return (
                        Reply::new(501, "5.5.4 ORCPT must not contain control characters"),
                        Next::Continue,
                    );
                }
                (self.recipient(&to).await, Next::Continue)
            }
            Request::Data => {
                if !self.tls {
                    return (reply::must_starttls(), Next::Continue);
                }
                if self.tx.mail_from.is_none() {
                    return (reply::bad_sequence("Need MAIL FROM first"), Next::Continue);
                }
                if self.tx.recipients.is_empty() && self.tx.remote.is_empty() {
                    return (Reply::new(554, "5.5.1 No valid recipients"), Next::Continue);
                }
                (
                    Reply::new(354, "Start mail input; end with <CRLF>.<CRLF>"),
                    Next::Data,
                )
            }
            Request::Bdat {
                chunk_size,
                is_last,
            } => {
                // RFC 3030 §2: the chunk follows whatever we answer, so it is
                // always read; a refusal is given after it.
                (
                    Reply::new(0, ""),
                    Next::Bdat {
                        size: chunk_size,
                        last: is_last,
                    },
                )
            }
            Request::Auth {
                mechanism,
                initial_response,
            } => (
                self.auth_start(mechanism, initial_response).await,
                Next::Continue,
            ),
            Request::Rset => {
                self.reset();
                (reply::ok("Reset"), Next::Continue)
            }
            Request::Noop { .. } => (reply::ok("OK"), Next::Continue),
            // RFC 5321 §3.5.3: 252 neither confirms nor denies (no address harvesting).
            Request::Vrfy { .. } => (
                Reply::new(
                    252,
                    "2.5.0 Cannot verify users; send the message and it will be delivered if the address exists",
                ),
                Next::Continue,
            ),
            Request::Expn { .. } => (reply::not_implemented("EXPN"), Next::Continue),
            Request::Help { .. } => (
                Reply::new(
                    214,
                    "2.0.0 ATHEN accepts mail for its users over TLS: EHLO, STARTTLS, MAIL, RCPT, DATA",
                ),
                Next::Continue,
            ),
            Request::Quit => (
                Reply::new(221, format!("2.0.0 {host} closing connection")),
                Next::Quit,
            ),
            Request::Etrn { .. } | Request::Atrn { .. } | Request::Burl { .. } => {
                (reply::not_implemented("This command"), Next::Continue)
            }
        }
    }

    /// RCPT TO: only accounts of this server that receive mail (and, on
    /// the submission ports, addresses on other servers).
    async fn recipient(&mut self, to: &smtp_proto::RcptTo<String>) -> Reply {
        let submission = matches!(self.mode, Mode::Submission { .. });
        match submission::look_up(
            &self.ctx,
            &to.address,
            orcpt_of(to),
            notify_of(to.flags),
            submission,
        )
        .await
        {
            Lookup::Refused(r) => r,
            Lookup::Remote(r) => {
                if !self.tx.remote.iter().any(|x| x.address == r.address) {
                    self.tx.remote.push(r);
                }
                Reply::new(250, "2.1.5 Recipient OK; will be sent on")
            }
            Lookup::Local(r) => {
                // The same mailbox twice gets one copy (RFC 5321 §3.3 allows it).
                if !self
                    .tx
                    .recipients
                    .iter()
                    .any(|x| x.mailbox.id == r.mailbox.id)
                {
                    self.tx.recipients.push(r);
                }
                Reply::new(250, "2.1.5 Recipient OK")
            }
        }
    }

    /// Receives the message text, then seals and stores it for every
    /// recipient before answering.
    /// Returns the reply and any bytes that followed the end of the message.
    async fn data(&mut self, io: &mut Io, already: &[u8]) -> std::io::Result<(Reply, Vec<u8>)> {
        let max = self.ctx.config.max_message_bytes;
        let mut receiver = DataReceiver::new();
        // Prime the receiver as if a line had just ended, so a first line of
        // "." (empty message) or ".." (dot-stuffed) is read correctly.
        let mut scratch = Vec::new();
        receiver.ingest(&mut b"\r\n".iter(), &mut scratch);
        let mut message = Zeroizing::new(Vec::with_capacity(64 * 1024));
        let mut too_big = false;
        let mut pending = already.to_vec();
        let mut buf = vec![0u8; 64 * 1024];
        let leftover = loop {
            let mut bytes = pending.iter();
            let done = receiver.ingest(&mut bytes, &mut message);
            if message.len() > max {
                too_big = true;
                message.clear();
            }
            if done {
                break bytes.as_slice().to_vec();
            }
            let n = self.read_message_data(io, &mut buf, "DATA").await?;
            pending = buf[..n].to_vec();
        };
        if too_big {
            return Ok((reply::too_big(max), leftover));
        }
        Ok((self.store_message(&message).await, leftover))
    }

    async fn store_message(&mut self, body: &[u8]) -> Reply {
        if let Mode::Submission { .. } = self.mode {
            return self.submit(body).await;
        }
        let now = self.ctx.clock.now();
        let from = self.tx.mail_from.clone().unwrap_or_default();
        let helo = self.tx.helo.clone().unwrap_or_default();
        let date = rfc5322(now);
        // Who the letter is from must be said once: two From: fields show
        // one sender to the reader and another to a check.
        if let Err(why) = athen_mail::header::one_of_each_identity_field(body) {
            tracing::info!("message refused: a sender field comes more than once");
            return Reply::new(550, format!("5.6.0 {why}"));
        }
        if let Err(why) = one_from_domain(body) {
            tracing::info!("message refused: From: names more than one domain");
            return Reply::new(550, format!("5.7.1 {why}"));
        }
        // RFC 5321 §4.4: the final delivery MTA adds Return-Path (the
        // envelope sender; one the sender wrote is removed, so read
        // receipts go by the envelope), and each MTA a Received: line.
        // Both go inside the sealed message.
        let body = &*athen_mail::header::without(body, |f| {
            let name = athen_mail::header::name(f);
            name.eq_ignore_ascii_case(b"return-path")
                || name.eq_ignore_ascii_case(athen_mail::header::SENDER_STATUS.as_bytes())
        });
        // Checked now, in memory: once sealed, the server cannot read it.
        let verdict = self
            .ctx
            .sender_auth
            .check(self.peer.ip(), &helo, &from, body)
            .await;
        if let Some(why) = verdict.refuse {
            tracing::info!("message refused by the sender's DMARC policy");
            return Reply::new(550, format!("5.7.1 {why}"));
        }
        let mut full = Zeroizing::new(Vec::with_capacity(body.len() + 1024));
        full.extend_from_slice(format!("Return-Path: <{from}>\r\n").as_bytes());
        full.extend_from_slice(verdict.header.as_bytes());
        full.extend_from_slice(
            format!(
                "Received: from {} ({}) by {} with ESMTPS; {}\r\n",
                sanitize(&helo),
                self.peer.ip(),
                self.ctx.config.hostname,
                date
            )
            .as_bytes(),
        );
        let kept = crate::sender_auth::strip_forged_results(body, &self.ctx.config.hostname);
        full.extend_from_slice(&kept);
        if let std::borrow::Cow::Owned(mut copy) = kept {
            copy.zeroize();
        }
        let mailboxes: Vec<Mailbox> = self
            .tx
            .recipients
            .iter()
            .map(|r| r.mailbox.clone())
            .collect();
        // All recipients' copies become visible together or not at all, so a
        // retry after a failure never duplicates mail.
        match athen_mail::spool::deliver_to_all(
            self.ctx.blobs.as_ref(),
            self.ctx.store.as_ref(),
            &mailboxes,
            &full,
            self.ctx.config.max_message_bytes + 4096,
            now,
        )
        .await
        {
            Ok(ids) => {
                tracing::info!(
                    recipients = ids.len(),
                    size = body.len(),
                    "message accepted"
                );
                if verdict.sender_verified {
                    let envid = self.tx.envid.clone();
                    submission::report_delivered(
                        &self.ctx,
                        &self.tx.recipients,
                        (&from, envid.as_deref(), None),
                        body,
                        now,
                    )
                    .await;
                } else if self.tx.recipients.iter().any(|r| r.notify.success) {
                    // Reports go only to senders that SPF or DMARC vouch
                    // for, so forged senders get no backscatter.
                    tracing::info!("delivery report not sent: the envelope sender is not verified");
                }
                Reply::new(
                    250,
                    format!("2.0.0 OK: sealed for {} mailbox(es)", ids.len()),
                )
            }
            Err(e) => {
                tracing::error!(error = %e, "could not spool a message");
                reply::temporary_failure()
            }
        }
    }
}

impl Session {
    /// AUTH: starts a SASL exchange (RFC 4954 §4).
    async fn auth_start(&mut self, mechanism: u64, initial: String) -> Reply {
        if self.mode == Mode::Mx {
            return reply::not_implemented("AUTH on the MX port; use the submission port");
        }
        if !self.tls {
            return Reply::new(
                538,
                "5.7.11 Encryption required: use STARTTLS before logging in",
            );
        }
        if self.user.is_some() {
            return reply::bad_sequence("Already logged in");
        }
        if self.tx.mail_from.is_some() {
            return reply::bad_sequence("AUTH is not allowed during a mail transaction");
        }
        let initial = Zeroizing::new(initial);
        match mechanism {
            AUTH_PLAIN if initial.is_empty() => {
                self.auth = Some(AuthStep::Plain);
                Reply::new(334, "")
            }
            AUTH_PLAIN => self.auth_plain(initial.as_bytes()).await,
            AUTH_LOGIN if initial.is_empty() => {
                self.auth = Some(AuthStep::LoginUser);
                Reply::new(334, BASE64.encode("Username:"))
            }
            AUTH_LOGIN => match decode(initial.as_bytes()) {
                Some(user) => {
                    self.auth = Some(AuthStep::LoginPassword(
                        String::from_utf8_lossy(&user).into_owned(),
                    ));
                    Reply::new(334, BASE64.encode("Password:"))
                }
                None => reply::syntax("Not valid base64"),
            },
            _ => Reply::new(
                504,
                "5.5.4 Unrecognised authentication mechanism: use PLAIN or LOGIN",
            ),
        }
    }

    /// A continuation line of a SASL exchange.
    async fn auth_continue(&mut self, line: &[u8]) -> Reply {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(step) = self.auth.take() else {
            return reply::bad_sequence("No authentication in progress");
        };
        // RFC 4954 §4: "*" cancels the exchange.
        if line == b"*" {
            return Reply::new(501, "5.0.0 Authentication cancelled");
        }
        match step {
            AuthStep::Plain => self.auth_plain(line).await,
            AuthStep::LoginUser => match decode(line) {
                Some(user) => {
                    self.auth = Some(AuthStep::LoginPassword(
                        String::from_utf8_lossy(&user).into_owned(),
                    ));
                    Reply::new(334, BASE64.encode("Password:"))
                }
                None => reply::syntax("Not valid base64"),
            },
            AuthStep::LoginPassword(user) => match decode(line) {
                Some(password) => {
                    self.log_in(&user, &String::from_utf8_lossy(&password))
                        .await
                }
                None => reply::syntax("Not valid base64"),
            },
        }
    }

    /// PLAIN (RFC 4616): base64 of `authzid NUL authcid NUL password`.
    async fn auth_plain(&mut self, b64: &[u8]) -> Reply {
        let Some(raw) = decode(b64) else {
            return reply::syntax("Not valid base64");
        };
        let mut parts = raw.split(|b| *b == 0);
        let (Some(authz), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return reply::syntax("PLAIN needs authorisation id, user name and password");
        };
        if !authz.is_empty() && authz != user {
            return Reply::new(535, "5.7.8 Logging in as someone else is not allowed");
        }
        let user = String::from_utf8_lossy(user).into_owned();
        let password = Zeroizing::new(String::from_utf8_lossy(password).into_owned());
        self.log_in(&user, &password).await
    }

    async fn log_in(&mut self, user: &str, secret: &str) -> Reply {
        match self
            .ctx
            .authenticator
            .unlock(user, secret, Some(self.peer.ip()), Doors::SUBMISSION)
            .await
        {
            Ok(unlocked) => {
                tracing::info!(login = %unlocked.login.name, "submission login");
                self.user = Some(unlocked);
                Reply::new(235, "2.7.0 Authentication successful")
            }
            Err(VaultError::Throttled { retry_after_secs }) => Reply::new(
                454,
                format!("4.7.0 Too many failed attempts; try again in {retry_after_secs} seconds"),
            ),
            Err(VaultError::AccountNotActive(status)) => Reply::new(
                535,
                format!("5.7.8 This account is {status}; contact the server administrator"),
            ),
            Err(VaultError::BadCredential) => {
                Reply::new(535, "5.7.8 The user name or password is not right")
            }
            Err(VaultError::NotThisDoor(why)) => Reply::new(535, format!("5.7.8 {why}")),
            Err(VaultError::SecondStepNeeded) => Reply::new(
                535,
                "5.7.8 This login signs in in two steps: use an app token (made in Settings) instead of the password",
            ),
            Err(e) => {
                tracing::error!(error = %e, "authentication failed");
                Reply::new(
                    454,
                    "4.7.0 Temporary authentication failure; try again later",
                )
            }
        }
    }

    /// Whether the logged-in user's login, account and (for an app token)
    /// credential are still good; if not, the user is logged out and the
    /// reply says why.
    async fn login_still_valid(&mut self) -> Result<(), Reply> {
        let Some(user) = &self.user else {
            return Ok(());
        };
        let gone = Reply::new(
            535,
            "5.7.8 This login can no longer send (suspended, closed, turned off or its token revoked); log in again",
        );
        let check = async {
            let account = self.ctx.store.account_of_live_login(user.login.id).await?;
            let ok = account.is_some_and(|a| {
                a.id == user.account.id
                    && a.status.may_log_in()
                    && a.mailbox_id == user.account.mailbox_id
            });
            if !ok {
                return Ok::<bool, athen_core::StoreError>(false);
            }
            if user.kind == athen_core::account::CredentialKind::AppToken {
                return Ok(self
                    .ctx
                    .store
                    .credential(user.credential)
                    .await?
                    .is_some_and(|c| c.revoked_at.is_none()));
            }
            Ok(true)
        };
        match check.await {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::info!(login = %user.login.name, "submission login no longer valid");
                self.user = None;
                Err(gone)
            }
            Err(e) => {
                tracing::error!(error = %e, "could not check a submission login");
                Err(reply::temporary_failure())
            }
        }
    }

    /// A message from a logged-in user: checked, completed, delivered to
    /// local recipients, queued for others and copied to the sender's Sent
    /// folder ([`submission::submit`], shared with the web app).
    async fn submit(&mut self, body: &[u8]) -> Reply {
        let Some(user) = &self.user else {
            return Reply::new(530, "5.7.0 Authentication required: log in first");
        };
        let sender = Sender {
            address: &user.account.address,
            mailbox: user.account.mailbox_id,
            login: &user.login.name,
            secret: &user.secret,
            ask_receipt: true,
        };
        let remote = std::mem::take(&mut self.tx.remote);
        submission::submit(
            &self.ctx,
            &sender,
            &self.tx.recipients,
            remote,
            (self.tx.envid.take(), self.tx.ret),
            body,
        )
        .await
    }
}

/// RFC 3461 §4.2: smtp-proto accepts only the rfc822 address type and
/// gives the decoded address; keep it as `rfc822;address`, the form reports
/// (RFC 3464 §2.3.1) and the next hop need.
/// RFC 7489 §6.6.1: DMARC cannot be checked for a From: with addresses
/// in more than one domain, so such a message is refused rather than let
/// through unchecked.
fn one_from_domain(raw: &[u8]) -> Result<(), String> {
    let Some(m) = mail_parser::MessageParser::default().parse_headers(raw) else {
        return Ok(());
    };
    let domains: std::collections::BTreeSet<String> = m
        .from()
        .into_iter()
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address.as_deref())
        .filter_map(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    if domains.len() > 1 {
        return Err(
            "The From: field names senders in more than one domain, which cannot be checked (RFC 7489 §6.6.1)"
                .into(),
        );
    }
    Ok(())
}

fn orcpt_of(to: &smtp_proto::RcptTo<String>) -> Option<String> {
    to.orcpt.as_ref().map(|a| format!("rfc822;{a}"))
}

fn decode(b64: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let trimmed: Vec<u8> = b64
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if trimmed == b"=" {
        return Some(Zeroizing::new(Vec::new()));
    }
    BASE64.decode(&trimmed).ok().map(Zeroizing::new)
}

/// RFC 3461 §4.1: NOTIFY from RCPT TO; none given means failures and delays.
fn notify_of(flags: u64) -> athen_core::queue::Notify {
    use smtp_proto::{
        RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS,
    };
    let any = RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE | RCPT_NOTIFY_DELAY | RCPT_NOTIFY_NEVER;
    if flags & any == 0 {
        return athen_core::queue::Notify::DEFAULT;
    }
    athen_core::queue::Notify {
        never: flags & RCPT_NOTIFY_NEVER != 0,
        success: flags & RCPT_NOTIFY_SUCCESS != 0,
        failure: flags & RCPT_NOTIFY_FAILURE != 0,
        delay: flags & RCPT_NOTIFY_DELAY != 0,
    }
}

/// HELO names go into a header: keep only what a host name may contain.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':' | '_'))
        .take(255)
        .collect()
}
