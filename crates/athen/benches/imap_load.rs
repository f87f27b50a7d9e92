//! IMAP under load, ATHEN and Dovecot in the same run on this machine
//! (issue 8): the same mailboxes (one of 10,000 letters, one of 200),
//! the same client (below: tokio + rustls, TLS on the implicit port), the
//! same command mix.
//!
//!     cargo bench -p athen --bench imap_load
//!
//! Needs Dovecot from Debian (`apt-get install dovecot-imapd`); it is run
//! as a private instance (its own config, Maildir under a temporary
//! directory, the same certificate as ATHEN, passwords as SHA512-CRYPT in
//! a passwd-file, otherwise Dovecot's defaults). `ATHEN_BENCH_SECONDS`
//! sets each load phase's length (default 20), `ATHEN_BENCH_CLIENTS` the
//! clients (default 10), `ATHEN_BENCH_LETTERS` the large mailbox's size
//! (default 10,000).
//!
//! Measured, for each server:
//! - filling: APPENDs of the letters (pipelined, LITERAL+);
//! - log-in (LOGIN until its OK) and log-in to first FETCH (from LOGIN's
//!   OK through SELECT INBOX to the FETCH of the newest letter's flags,
//!   envelope and header) on the 10,000-letter mailbox, 20 times;
//! - sessions: each client loops connect, LOGIN, SELECT, FETCH 1:20
//!   envelopes, UID FETCH of a whole letter, STORE +FLAGS and -FLAGS,
//!   SEARCH UNSEEN, APPEND to Drafts, SELECT Drafts, STORE \Deleted,
//!   EXPUNGE, LOGOUT (12 commands a session) on the 200-letter mailbox;
//! - commands: each client logs in once and loops the same commands
//!   without LOGIN and LOGOUT.

#[path = "../tests/common/mod.rs"]
mod common;
use common::*;
use rustls_pki_types::ServerName;
use rustls_pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const BIG: &str = "reception@northside.example";
const SMALL: &str = "jane@athen.localhost";

struct Client {
    io: BufReader<TlsStream<TcpStream>>,
    n: u32,
}

fn letter(i: usize) -> Vec<u8> {
    format!(
        "From: Dr Peter Smith <peter{i}@northside.example>\r\nTo: reception@northside.example\r\n\
Subject: [CITIZEN, John (M) DOB:01/02/1960] Referral number {i}\r\nDate: Tue, 24 Nov 2026 10:00:00 +1100\r\n\
Message-ID: <bench-{i}@northside.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Dear Dr Jones,\r\n\r\n{}\r\nYours sincerely,\r\n\r\nDr Peter Smith\r\n",
        "Thank you for seeing this patient, who has had chest pain on exertion for three weeks. \
His ECG at rest is normal. I would be grateful for your opinion and an exercise test.\r\n"
            .repeat(12)
    )
    .into_bytes()
}

impl Client {
    async fn connect(port: u16, tls: &tokio_rustls::TlsConnector) -> Client {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let s = tls
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let mut c = Client {
            io: BufReader::new(s),
            n: 0,
        };
        let mut greeting = String::new();
        c.io.read_line(&mut greeting).await.unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        c
    }

    /// Reads until the tagged answer to `tag`; literals in answers are
    /// read whole. Returns the tagged line and the number of bytes read.
    async fn answer(&mut self, tag: &str) -> (String, usize) {
        let mut total = 0;
        loop {
            let mut line = Vec::new();
            let n = self.io.read_until(b'\n', &mut line).await.unwrap();
            assert!(n > 0, "connection closed waiting for {tag}");
            total += n;
            if let Some(rest) = line.strip_suffix(b"}\r\n")
                && let Some(open) = rest.iter().rposition(|b| *b == b'{')
                && let Ok(len) = std::str::from_utf8(&rest[open + 1..])
                    .unwrap_or("x")
                    .parse::<usize>()
            {
                let mut buf = vec![0; len];
                self.io.read_exact(&mut buf).await.unwrap();
                total += len;
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            if text.starts_with(tag) && text.as_bytes().get(tag.len()) == Some(&b' ') {
                return (text.trim_end().to_string(), total);
            }
        }
    }

    async fn send(&mut self, command: &[u8]) -> String {
        self.n += 1;
        let tag = format!("T{}", self.n);
        let mut out = format!("{tag} ").into_bytes();
        out.extend_from_slice(command);
        out.extend_from_slice(b"\r\n");
        self.io.get_mut().write_all(&out).await.unwrap();
        tag
    }

    async fn cmd(&mut self, command: &str) -> String {
        let tag = self.send(command.as_bytes()).await;
        let (line, _) = self.answer(&tag).await;
        assert!(line.contains(" OK"), "{command}: {line}");
        line
    }

    fn append_bytes(folder: &str, flags: &str, msg: &[u8]) -> Vec<u8> {
        let mut c = format!("APPEND {folder} {flags}{{{}+}}\r\n", msg.len()).into_bytes();
        c.extend_from_slice(msg);
        c
    }

    async fn exists(&mut self, folder: &str) -> usize {
        let tag = self
            .send(format!("STATUS {folder} (MESSAGES)").as_bytes())
            .await;
        // The STATUS line comes before the tagged OK; read them by hand.
        let mut count = 0;
        loop {
            let mut line = String::new();
            self.io.read_line(&mut line).await.unwrap();
            if let Some(i) = line.find("MESSAGES ") {
                count = line[i + 9..]
                    .trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse()
                    .unwrap_or(0);
            }
            if line.starts_with(&format!("{tag} ")) {
                return count;
            }
        }
    }
}

fn tls_client(ca: &Path) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private Dovecot: its own config, Maildir and passwd-file.
struct Dovecot {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dovecot(cert: &Path, key: &Path) -> Option<Dovecot> {
    if Command::new("dovecot").arg("--version").output().is_err() {
        eprintln!("Dovecot is not installed (apt-get install dovecot-imapd): ATHEN alone");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hash = Command::new("doveadm")
        .args(["pw", "-s", "SHA512-CRYPT", "-p", JANE_PW])
        .output()
        .unwrap();
    let hash = String::from_utf8(hash.stdout).unwrap();
    std::fs::write(
        d.join("passwd"),
        format!("{BIG}:{}\n{SMALL}:{}\n", hash.trim(), hash.trim()),
    )
    .unwrap();
    let port = free_port();
    let plain = free_port();
    for sub in ["run", "state", "home"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    // Mail is kept as Debian's `mail` user (Dovecot never runs mail
    // processes as root).
    let owned = Command::new("chown")
        .args(["-R", "mail:mail"])
        .arg(d.join("home"))
        .status()
        .unwrap();
    assert!(owned.success());
    // The temporary directory itself must be passable by that user.
    let _ = Command::new("chmod").arg("755").arg(d).status();
    let conf = format!(
        "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
protocols = imap\nlisten = 127.0.0.1\nssl = required\nssl_cert = <{cert}\nssl_key = <{key}\n\
disable_plaintext_auth = yes\nauth_mechanisms = plain\nfirst_valid_uid = 1\n\
mail_location = maildir:~/Maildir\n\
passdb {{\n  driver = passwd-file\n  args = scheme=SHA512-CRYPT {d}/passwd\n}}\n\
userdb {{\n  driver = static\n  args = uid=mail gid=mail home={d}/home/%u\n}}\n\
namespace inbox {{\n  inbox = yes\n  mailbox Drafts {{\n    special_use = \\Drafts\n    auto = create\n  }}\n}}\n\
service imap-login {{\n  inet_listener imap {{\n    port = {plain}\n  }}\n  inet_listener imaps {{\n    port = {port}\n    ssl = yes\n  }}\n}}\n",
        d = d.display(),
        cert = cert.display(),
        key = key.display(),
    );
    std::fs::write(d.join("dovecot.conf"), conf).unwrap();
    let mut child = Command::new("dovecot")
        .args(["-F", "-c"])
        .arg(d.join("dovecot.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Dovecot {
                child,
                port,
                _dir: dir,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("Dovecot did not start; see {}/dovecot.log", d.display());
}

async fn login(port: u16, tls: &tokio_rustls::TlsConnector, user: &str) -> Client {
    let mut c = Client::connect(port, tls).await;
    c.cmd(&format!("LOGIN {user} \"{JANE_PW}\"")).await;
    c
}

async fn fill(port: u16, tls: &tokio_rustls::TlsConnector, user: &str, n: usize) -> f64 {
    let mut c = login(port, tls, user).await;
    let have = c.exists("INBOX").await;
    let started = Instant::now();
    let mut i = have;
    while i < n {
        let batch: Vec<usize> = (i..n.min(i + 100)).collect();
        let mut tags = Vec::new();
        for j in &batch {
            tags.push(
                c.send(&Client::append_bytes("INBOX", "", &letter(*j)))
                    .await,
            );
        }
        for t in tags {
            let (line, _) = c.answer(&t).await;
            assert!(line.contains(" OK"), "{line}");
        }
        i += batch.len();
    }
    c.cmd("LOGOUT").await;
    started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// (log-in ms, log-in to first FETCH ms), 20 runs each, sorted.
async fn first_fetch(port: u16, tls: &tokio_rustls::TlsConnector) -> (Vec<f64>, Vec<f64>) {
    let (mut logins, mut firsts) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let mut c = Client::connect(port, tls).await;
        let t0 = Instant::now();
        c.cmd(&format!("LOGIN {BIG} \"{JANE_PW}\"")).await;
        let t1 = Instant::now();
        c.cmd("SELECT INBOX").await;
        c.cmd("FETCH * (UID FLAGS ENVELOPE BODY.PEEK[HEADER])")
            .await;
        let t2 = Instant::now();
        c.cmd("LOGOUT").await;
        logins.push((t1 - t0).as_secs_f64() * 1000.0);
        firsts.push((t2 - t1).as_secs_f64() * 1000.0);
    }
    logins.sort_by(f64::total_cmp);
    firsts.sort_by(f64::total_cmp);
    (logins, firsts)
}

/// The commands of one round on the small mailbox (after SELECT INBOX),
/// each timed into `lat` (microseconds).
async fn round(c: &mut Client, i: u64, lat: &mut Vec<u64>) -> u64 {
    let msg = format!("Subject: draft {i}\r\n\r\nA note.\r\n");
    let uid = 1 + (i % 200);
    let seq = 1 + (i % 20);
    let commands: [Vec<u8>; 9] = [
        b"FETCH 1:20 (UID FLAGS ENVELOPE)".to_vec(),
        format!("UID FETCH {uid} (BODY.PEEK[])").into_bytes(),
        format!("STORE {seq} +FLAGS (\\Flagged)").into_bytes(),
        format!("STORE {seq} -FLAGS (\\Flagged)").into_bytes(),
        b"SEARCH UNSEEN".to_vec(),
        Client::append_bytes("Drafts", "", msg.as_bytes()),
        b"SELECT Drafts".to_vec(),
        b"UID STORE 1:* +FLAGS.SILENT (\\Deleted)".to_vec(),
        b"EXPUNGE".to_vec(),
    ];
    for command in commands {
        let t = Instant::now();
        let tag = c.send(&command).await;
        let (line, _) = c.answer(&tag).await;
        assert!(
            line.contains(" OK"),
            "{}: {line}",
            String::from_utf8_lossy(&command[..command.len().min(40)])
        );
        lat.push(t.elapsed().as_micros() as u64);
    }
    let t = Instant::now();
    c.cmd("SELECT INBOX").await;
    lat.push(t.elapsed().as_micros() as u64);
    10
}

struct Load {
    sessions: u64,
    commands: u64,
    seconds: f64,
    lat_ms: Vec<f64>,
}

async fn load(
    port: u16,
    tls: tokio_rustls::TlsConnector,
    clients: usize,
    secs: u64,
    sessions: bool,
) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let done_sessions = Arc::new(AtomicU64::new(0));
    let done_commands = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (stop, s, cmds, tls) = (
            stop.clone(),
            done_sessions.clone(),
            done_commands.clone(),
            tls.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = k as u64 * 1_000_000;
            let mut held: Option<Client> = None;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                if sessions || held.is_none() {
                    let mut c = Client::connect(port, &tls).await;
                    let t = Instant::now();
                    c.cmd(&format!("LOGIN {SMALL} \"{JANE_PW}\"")).await;
                    lat.push(t.elapsed().as_micros() as u64);
                    let t = Instant::now();
                    c.cmd("SELECT INBOX").await;
                    lat.push(t.elapsed().as_micros() as u64);
                    cmds.fetch_add(2, Ordering::Relaxed);
                    held = Some(c);
                }
                let Some(c) = held.as_mut() else { break };
                let n = round(c, i, &mut lat).await;
                cmds.fetch_add(n, Ordering::Relaxed);
                if sessions {
                    let mut c = held.take().unwrap();
                    let t = Instant::now();
                    c.cmd("LOGOUT").await;
                    lat.push(t.elapsed().as_micros() as u64);
                    cmds.fetch_add(1, Ordering::Relaxed);
                    s.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Some(mut c) = held {
                c.cmd("LOGOUT").await;
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let mut lat_ms: Vec<f64> = Vec::new();
    for t in tasks {
        lat_ms.extend(t.await.unwrap().into_iter().map(|u| u as f64 / 1000.0));
    }
    lat_ms.sort_by(f64::total_cmp);
    Load {
        sessions: done_sessions.load(Ordering::Relaxed),
        commands: done_commands.load(Ordering::Relaxed),
        seconds,
        lat_ms,
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs = env_or("ATHEN_BENCH_SECONDS", 20);
    let clients = env_or("ATHEN_BENCH_CLIENTS", 10) as usize;
    let letters = env_or("ATHEN_BENCH_LETTERS", 10_000) as usize;
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    create_individual(&data, "Jane Citizen", SMALL, JANE_PW);
    create_organisation(&data, "Northside Medical", BIG, JANE_PW, &[]);
    let server = Server::start(&data, &["--imap-connection-limit", "0"]);
    let athen_port = server.port_of("IMAPS port:");
    let cert = data.join("tls/self-signed-cert.pem");
    let key = data.join("tls/self-signed-key.pem");
    let dovecot = start_dovecot(&cert, &key);
    let tls = tls_client(&cert);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut servers = vec![("ATHEN", athen_port)];
    if let Some(d) = &dovecot {
        servers.push(("Dovecot", d.port));
    }
    println!(
        "IMAP load, {clients} clients, {secs} s a phase, TLS over loopback, server and client on this machine"
    );
    for (name, port) in servers {
        rt.block_on(async {
            let t_big = fill(port, &tls, BIG, letters).await;
            let t_small = fill(port, &tls, SMALL, 200).await;
            println!(
                "{name}: filled {letters} letters by APPEND in {t_big:.1} s ({:.0}/s), 200 in {t_small:.1} s",
                letters as f64 / t_big
            );
            let (logins, firsts) = first_fetch(port, &tls).await;
            println!(
                "{name}: LOGIN median {:.1} ms (p95 {:.1}); LOGIN OK -> SELECT -> first FETCH on {letters} letters: median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
                percentile(&logins, 0.5),
                percentile(&logins, 0.95),
                percentile(&firsts, 0.5),
                percentile(&firsts, 0.95),
                percentile(&firsts, 1.0),
            );
            for sessions in [true, false] {
                let l = load(port, tls.clone(), clients, secs, sessions).await;
                println!(
                    "{name}: {}: {:.0} commands/s{}, latency p50 {:.2} ms, p99 {:.2} ms ({} commands)",
                    if sessions { "whole sessions (log-in each time)" } else { "logged in once" },
                    l.commands as f64 / l.seconds,
                    if sessions {
                        format!(", {:.1} log-ins/s", l.sessions as f64 / l.seconds)
                    } else {
                        String::new()
                    },
                    percentile(&l.lat_ms, 0.5),
                    percentile(&l.lat_ms, 0.99),
                    l.commands
                );
            }
        });
    }
    drop(dovecot);
    drop(server);
}
