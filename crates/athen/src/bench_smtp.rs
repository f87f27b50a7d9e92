//! `athen bench smtp`: a load generator that speaks SMTP with STARTTLS, so
//! it can measure ATHEN (which refuses mail without TLS) and any other
//! server the same way.
//!
//! Each connection: greeting, EHLO, STARTTLS, EHLO, then for each message
//! MAIL/RCPT/DATA pipelined (RFC 2920), the text, and the final reply. A
//! message counts as accepted only on a 2xx final reply.

use anyhow::{Context, Result, bail};
use clap::Args;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls_pki_types::pem::PemObject;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Args, Debug, Clone)]
pub struct SmtpBenchArgs {
    /// host:port of the SMTP server.
    #[arg(long)]
    target: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 20)]
    connections: usize,
    /// Messages in all.
    #[arg(long, default_value_t = 5000)]
    messages: usize,
    /// Size of each message in bytes.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Envelope sender.
    #[arg(long, default_value = "bench@load.example")]
    from: String,
    /// Envelope recipient.
    #[arg(long, default_value = "jane@athen.localhost")]
    to: String,
    /// Name given in EHLO and as TLS server name.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// PEM certificate(s) to trust for the server.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Do not verify the server's certificate (for test servers only).
    #[arg(long)]
    insecure: bool,
    /// Append the Message-ID of every accepted message to this file (one a
    /// line, written as each 250 arrives), to check durability afterwards.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Instead of sending mail, open this many connections, complete
    /// EHLO/STARTTLS/EHLO on each, and hold them open for --hold seconds.
    #[arg(long)]
    idle: Option<usize>,
    #[arg(long, default_value_t = 30)]
    hold: u64,
}

/// Accepts any certificate: only behind `--insecure`.
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config(args: &SmtpBenchArgs) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?;
    let config = if args.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
            .with_no_client_auth()
    } else {
        let Some(ca) = &args.ca else {
            bail!("give --ca FILE (the server's certificate or CA) or --insecure");
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca)
            .with_context(|| format!("cannot read {}", ca.display()))?
        {
            roots
                .add(cert.context("bad PEM")?)
                .context("bad certificate")?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Reads one (possibly multi-line) reply; returns its code.
async fn reply<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> Result<u16> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            bail!("connection closed by the server");
        }
        if line.len() < 4 {
            bail!("malformed reply {line:?}");
        }
        if line.as_bytes()[3] == b' ' {
            return line[..3]
                .parse()
                .with_context(|| format!("malformed reply {line:?}"));
        }
    }
}

async fn expect<R: AsyncRead + Unpin>(r: &mut BufReader<R>, want: u16, what: &str) -> Result<()> {
    let code = reply(r).await?;
    if code != want {
        bail!("{what}: expected {want}, got {code}");
    }
    Ok(())
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn open(args: &SmtpBenchArgs, tls: &tokio_rustls::TlsConnector) -> Result<BufReader<Tls>> {
    let tcp = TcpStream::connect(&args.target)
        .await
        .with_context(|| format!("connect {}", args.target))?;
    tcp.set_nodelay(true)?;
    let mut plain = BufReader::new(tcp);
    expect(&mut plain, 220, "greeting").await?;
    plain
        .get_mut()
        .write_all(format!("EHLO {}\r\n", args.server_name).as_bytes())
        .await?;
    expect(&mut plain, 250, "EHLO").await?;
    plain.get_mut().write_all(b"STARTTLS\r\n").await?;
    expect(&mut plain, 220, "STARTTLS").await?;
    let name = ServerName::try_from(args.server_name.clone()).context("server name")?;
    let stream = tls
        .connect(name, plain.into_inner())
        .await
        .context("TLS handshake")?;
    let mut s = BufReader::new(stream);
    s.get_mut()
        .write_all(format!("EHLO {}\r\n", args.server_name).as_bytes())
        .await?;
    expect(&mut s, 250, "EHLO after STARTTLS").await?;
    Ok(s)
}

fn message(id: &str, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Load Test <{id}@load.example>\r\nTo: recipient@athen.localhost\r\nSubject: load test {id}\r\n\
Message-ID: <{id}@load.example>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\n"
    )
    .into_bytes();
    let line = b"Dear colleague, this line is filler text for a load test of the mail server.\r\n";
    while m.len() + line.len() <= size {
        m.extend_from_slice(line);
    }
    m.resize(size.max(m.len()), b'x');
    m.extend_from_slice(b"\r\n.\r\n");
    m
}

struct Stats {
    latencies: Mutex<Vec<Duration>>,
    accepted: AtomicUsize,
    refused: AtomicUsize,
    errors: Mutex<Vec<String>>,
    record: Option<Mutex<std::fs::File>>,
}

async fn worker(
    n: usize,
    args: Arc<SmtpBenchArgs>,
    tls: tokio_rustls::TlsConnector,
    next: Arc<AtomicUsize>,
    stats: Arc<Stats>,
    run: String,
) {
    let mut conn: Option<BufReader<Tls>> = None;
    let mut failed_connects = 0;
    loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        if i >= args.messages {
            break;
        }
        if conn.is_none() {
            match open(&args, &tls).await {
                Ok(c) => {
                    conn = Some(c);
                    failed_connects = 0;
                }
                Err(e) => {
                    stats
                        .errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("connection {n}: {e:#}"));
                    failed_connects += 1;
                    if failed_connects >= 3 {
                        // The server is gone; stop rather than spin.
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        let Some(s) = conn.as_mut() else { continue };
        let id = format!("{run}.{i}");
        let started = Instant::now();
        let result: Result<u16> = async {
            s.get_mut()
                .write_all(
                    format!(
                        "MAIL FROM:<{}>\r\nRCPT TO:<{}>\r\nDATA\r\n",
                        args.from, args.to
                    )
                    .as_bytes(),
                )
                .await?;
            expect(s, 250, "MAIL").await?;
            expect(s, 250, "RCPT").await?;
            expect(s, 354, "DATA").await?;
            s.get_mut().write_all(&message(&id, args.size)).await?;
            reply(s).await
        }
        .await;
        match result {
            Ok(code) if (200..300).contains(&code) => {
                stats.accepted.fetch_add(1, Ordering::SeqCst);
                stats
                    .latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(started.elapsed());
                if let Some(f) = &stats.record {
                    let _ = writeln!(
                        f.lock().unwrap_or_else(|p| p.into_inner()),
                        "<{id}@load.example>"
                    );
                }
            }
            Ok(code) => {
                stats.refused.fetch_add(1, Ordering::SeqCst);
                stats
                    .errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("message {i}: final reply {code}"));
            }
            Err(e) => {
                stats
                    .errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("message {i}: {e:#}"));
                conn = None;
            }
        }
    }
    if let Some(mut s) = conn {
        let _ = s.get_mut().write_all(b"QUIT\r\n").await;
        let _ = reply(&mut s).await;
    }
}

pub async fn run(args: SmtpBenchArgs) -> Result<()> {
    let tls = tokio_rustls::TlsConnector::from(tls_config(&args)?);
    let args = Arc::new(args);
    if let Some(n) = args.idle {
        let started = Instant::now();
        let mut held = Vec::with_capacity(n);
        for i in 0..n {
            held.push(
                open(&args, &tls)
                    .await
                    .with_context(|| format!("idle connection {i}"))?,
            );
        }
        println!(
            "{n} connections open after EHLO/STARTTLS/EHLO in {:.1} s; holding for {} s",
            started.elapsed().as_secs_f64(),
            args.hold
        );
        tokio::time::sleep(Duration::from_secs(args.hold)).await;
        return Ok(());
    }
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_micros()
    );
    let record = match &args.record {
        Some(p) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open {}", p.display()))?,
        )),
        None => None,
    };
    let stats = Arc::new(Stats {
        latencies: Mutex::new(Vec::with_capacity(args.messages)),
        accepted: AtomicUsize::new(0),
        refused: AtomicUsize::new(0),
        errors: Mutex::new(Vec::new()),
        record,
    });
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..args.connections.max(1) {
        tasks.spawn(worker(
            n,
            args.clone(),
            tls.clone(),
            next.clone(),
            stats.clone(),
            run.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let accepted = stats.accepted.load(Ordering::SeqCst);
    let mut lat = stats
        .latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    let errors = stats
        .errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    println!("target:       {}", args.target);
    println!("connections:  {}", args.connections);
    println!("message size: {} bytes", args.size);
    println!("accepted:     {accepted} of {}", args.messages);
    println!("refused:      {}", stats.refused.load(Ordering::SeqCst));
    println!("errors:       {}", errors.len());
    for e in errors.iter().take(5) {
        println!("  {e}");
    }
    println!("elapsed:      {:.2} s", elapsed.as_secs_f64());
    println!(
        "throughput:   {:.0} messages/s",
        accepted as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency:      p50 {:.1} ms, p99 {:.1} ms (MAIL to final reply)",
        pct(0.50),
        pct(0.99)
    );
    if accepted < args.messages {
        bail!("{} messages were not accepted", args.messages - accepted);
    }
    Ok(())
}
