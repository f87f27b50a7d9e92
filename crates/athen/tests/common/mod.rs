//! Helpers for the integration tests: run the real `athen` binary.
#![allow(dead_code)]

use serde_json::Value;
use std::io::Write;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_athen");

/// Runs `athen <args>` with `stdin`, returning the output.
pub fn run(args: &[&str], stdin: &str) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("ATHEN_CONFIG")
        .env_remove("ATHEN_DATA_DIR");
    output_with_stdin(&mut c, stdin)
}

/// Runs a command with `stdin` written to it; returns its output.
pub fn output_with_stdin(c: &mut Command, stdin: &str) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("the program finished")
}

/// The `athen-fetch` binary, built beside the server (the workspace's
/// test run builds both). When its sources are newer than it (a run of
/// this crate alone after a change to the downloader), it is built first,
/// in the server's profile.
pub fn fetch_bin() -> std::path::PathBuf {
    let bin = Path::new(BIN).with_file_name(format!("athen-fetch{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../athen-fetch/src");
    let newest_source = std::fs::read_dir(&src)
        .expect("the downloader's sources")
        .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok())
        .max();
    if built.is_none() || newest_source > built {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut c = Command::new(cargo);
        c.args(["build", "-q", "-p", "athen-fetch", "--bin", "athen-fetch"]);
        if BIN.contains("/release/") {
            c.arg("--release");
        }
        assert!(c.status().unwrap().success(), "cargo build -p athen-fetch");
    }
    bin
}

/// Runs `athen admin --data-dir DIR --json <args>`; returns exit code and JSON.
pub fn admin(dir: &Path, args: &[&str], stdin: &str) -> (i32, Value) {
    let mut all = vec!["admin", "--data-dir", dir.to_str().unwrap(), "--json"];
    all.extend_from_slice(args);
    let out = run(&all, stdin);
    let code = out.status.code().unwrap_or(-1);
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}) from {args:?}: stdout={text} stderr={}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, v)
}

/// Like [`admin`] but asserts success.
pub fn admin_ok(dir: &Path, args: &[&str], stdin: &str) -> Value {
    let (code, v) = admin(dir, args, stdin);
    assert_eq!(code, 0, "{args:?} failed: {v}");
    v
}

/// `athen mailbox --data-dir DIR --login LOGIN --password-stdin --json <args>`.
pub fn mailbox(dir: &Path, login: &str, secret: &str, args: &[&str]) -> (i32, Value) {
    let mut all = vec![
        "mailbox",
        "--data-dir",
        dir.to_str().unwrap(),
        "--login",
        login,
        "--password-stdin",
        "--json",
    ];
    all.extend_from_slice(args);
    let out = run(&all, &format!("{secret}\n"));
    let code = out.status.code().unwrap_or(-1);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, v)
}

/// `athen mailbox read UID` for `login`: the message as stored.
pub fn read_message(dir: &Path, login: &str, secret: &str, uid: &str) -> String {
    let out = run(
        &[
            "mailbox",
            "--data-dir",
            dir.to_str().unwrap(),
            "--login",
            login,
            "--password-stdin",
            "read",
            uid,
        ],
        &format!("{secret}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn create_individual(dir: &Path, name: &str, address: &str, password: &str) -> Value {
    admin_ok(
        dir,
        &[
            "account",
            "create",
            "--kind",
            "individual",
            "--name",
            name,
            "--address",
            address,
            "--password-stdin",
        ],
        &format!("{password}\n"),
    )
}

/// Confirms an account as its posted code would: only a confirmed
/// account writes to other servers.
pub fn confirm(dir: &Path, address: &str) {
    admin_ok(dir, &["account", "confirm", address], "");
}

pub fn create_organisation(
    dir: &Path,
    name: &str,
    address: &str,
    password: &str,
    extra: &[&str],
) -> Value {
    let mut args = vec![
        "account",
        "create",
        "--kind",
        "organisation",
        "--name",
        name,
        "--address",
        address,
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    admin_ok(dir, &args, &format!("{password}\n"))
}

/// Lists a staff member under an organisation and gives them a login
/// (`athen admin staff add`, `login add`); returns the login name.
pub fn add_staff_with_login(
    dir: &Path,
    org: &str,
    org_password: &str,
    (given, family): (&str, &str),
    password: &str,
) -> String {
    let staff = admin_ok(
        dir,
        &["staff", "add", org, "--given", given, "--family", family],
        "",
    );
    let login = admin_ok(
        dir,
        &[
            "login",
            "add",
            org,
            "--staff",
            &staff["id"].to_string(),
            "--password-stdin",
        ],
        &format!("{org_password}\n{password}\n"),
    );
    login["name"].as_str().unwrap().to_string()
}

/// An administrator (`athen admin operator create`).
pub fn create_operator(dir: &Path, login: &str, name: &str, password: &str) {
    admin_ok(
        dir,
        &[
            "operator",
            "create",
            "--login",
            login,
            "--name",
            name,
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
}

pub fn deliver(dir: &Path, to: &str, message: &str) -> Value {
    admin_ok(dir, &["deliver", "--to", to], message)
}

/// A small RFC 5322 message.
pub fn letter(subject: &str, body: &str) -> String {
    format!(
        "From: Dr Sender <sender@remote.example>\r\nTo: someone@athen.localhost\r\nSubject: {subject}\r\n\
Date: Tue, 24 Nov 2026 10:00:00 +1100\r\nMessage-ID: <{}@remote.example>\r\n\r\n{body}\r\n",
        subject.len() * 7919 + body.len()
    )
}

/// A DNS server on loopback (`tests/support/dns_server.py`, dnslib) that
/// answers TXT queries from `records` and NXDOMAIN otherwise, so SPF, DKIM
/// and DMARC checks get quick, controlled answers without the internet.
pub struct Dns {
    child: Child,
    pub port: u16,
}

impl Dns {
    pub fn start(records: &Value) -> Dns {
        let mut child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/dns_server.py"
            ))
            .arg(records.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with dnslib is installed by the test command");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("DNS server port, got {line:?}"));
        Dns { child, port }
    }

    /// A server that knows no names at all.
    pub fn empty() -> Dns {
        Self::start(&serde_json::json!({}))
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `athen` server, stopped (killed) when dropped.
pub struct Server {
    pub child: Child,
    /// The HTTPS port.
    pub port: u16,
    pub summary: String,
    /// The DNS server started for it, if any; lives as long as the server.
    pub dns: Option<Dns>,
}

impl Server {
    /// localserve on `data`, every port chosen by the system, with an
    /// empty loopback DNS server.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Self::start_with_dns(data, Dns::empty(), extra)
    }

    /// As [`start`](Self::start), with the given DNS server.
    pub fn start_with_dns(data: &Path, dns: Dns, extra: &[&str]) -> Server {
        Self::start_on(data, dns, 0, extra)
    }

    /// As [`start_with_dns`](Self::start_with_dns), on HTTPS port
    /// `https` (0: any), so that a restart can keep the address.
    pub fn start_on(data: &Path, dns: Dns, https: u16, extra: &[&str]) -> Server {
        let https = https.to_string();
        let mut args = vec![
            "localserve",
            "--data-dir",
            data.to_str().unwrap(),
            "--https-port",
            &https,
            "--smtp-port",
            "0",
            "--submission-port",
            "0",
            "--submissions-port",
            "0",
            "--imap-port",
            "0",
            "--imaps-port",
            "0",
        ];
        // No DNS beyond loopback.
        let address = dns.address();
        args.extend_from_slice(&["--dns-server", &address]);
        args.extend_from_slice(extra);
        let mut server = Self::start_with(&args);
        server.dns = Some(dns);
        server
    }

    pub fn start_with(args: &[&str]) -> Server {
        // ATHEN_TEST_LOG=debug (say) shows the servers' logs, for finding
        // out why a test fails.
        let log = std::env::var("ATHEN_TEST_LOG").ok();
        let mut child = Command::new(BIN)
            .args(args)
            .env("RUST_LOG", log.as_deref().unwrap_or("warn"))
            .stdout(Stdio::piped())
            .stderr(if log.is_some() {
                Stdio::inherit()
            } else {
                Stdio::piped()
            })
            .spawn()
            .expect("start server");
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut summary = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !summary.contains("Stop with Ctrl-C") {
            assert!(Instant::now() < deadline, "server did not start: {summary}");
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                let mut err = String::new();
                let _ = std::io::Read::read_to_string(
                    child
                        .stderr
                        .as_mut()
                        .expect("stderr is piped unless ATHEN_TEST_LOG is set"),
                    &mut err,
                );
                panic!("server exited early: {summary}\n{err}");
            }
            summary.push_str(&line);
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        let port = summary
            .lines()
            .find_map(|l| l.trim().strip_prefix("HTTPS port:"))
            .and_then(|p| p.trim().parse().ok())
            .expect("port in summary");
        Server {
            child,
            port,
            summary,
            dns: None,
        }
    }

    pub fn setup_token(&self) -> Option<String> {
        self.summary
            .split("setup?token=")
            .nth(1)
            .map(|t| t.split_whitespace().next().unwrap().to_string())
    }

    /// The port printed on the summary line starting with `label`.
    pub fn port_of(&self, label: &str) -> u16 {
        self.summary
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {label} in {}", self.summary))
    }

    /// Sends SIGTERM and waits; returns the exit status and remaining stderr.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A small client for the API: `api(method, path, body=None, token=None)`
/// returns (status, headers with lower-case names, parsed JSON or bytes).
pub const API_CLIENT: &str = r#"
import os, ssl, json, sys, time, threading, smtplib, hashlib, base64, urllib.request, urllib.parse, urllib.error
ctx = ssl.create_default_context(cafile=os.environ["CA"])
base = "https://localhost:%s" % os.environ["PORT"]
def api(method, path, body=None, token=None, raw=None):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if raw is not None:
        data = raw
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        r = urllib.request.urlopen(req, context=ctx, timeout=60)
        status, h, out = r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        status, h, out = e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
    if h.get("content-type", "").startswith("application/json"):
        out = json.loads(out)
    return status, h, out
def login(who, pw):
    s, h, v = api("POST", "/api/v1/session", {"login": who, "password": pw})
    assert s == 201, (s, v)
    return v["token"]
def settled(t):
    """Waits until the mailbox has filed what waited in its spool."""
    for _ in range(300):
        s, _, m = api("GET", "/api/v1/mailbox", token=t)
        if m["unspool"]["waiting"] == 0 and m["unspool"]["first_page_ready"]:
            return m
        time.sleep(0.1)
    raise Exception("unspool did not finish")
def send_letter(subject, tag):
    """Jane sends Northside a letter (SUBMISSION and PW set by api_run)."""
    c = smtplib.SMTP("localhost", int(os.environ["SUBMISSION"]), timeout=30)
    c.starttls(context=ctx)
    c.login("jane@athen.localhost", os.environ["PW"])
    c.sendmail("jane@athen.localhost", ["reception@northside.example"],
        ("From: Dr Peter Smith <jane@athen.localhost>\r\nTo: reception@northside.example\r\n"
         "Subject: " + subject + "\r\nMessage-ID: <" + tag + "@athen.localhost>\r\n"
         "Content-Type: text/plain; charset=utf-8\r\n\r\n"
         "Dear Dr Jones,\r\n\r\nThank you for seeing this patient.\r\n\r\nYours sincerely,\r\n\r\nDr Peter Smith\r\n").encode())
    c.quit()
"#;

/// `address`'s letters are converted to HL7 (set before the server starts).
pub fn takes_hl7(data: &Path, address: &str) {
    let (rc, v) = mailbox(
        data,
        address,
        JANE_PW,
        &["settings", "--delivery-formats", "hl7-oru"],
    );
    assert_eq!(rc, 0, "{v}");
}

impl TwoPractices {
    /// Runs `code` after [`API_CLIENT`] with the server's ports and Jane's
    /// password set, and parses what it prints as JSON.
    pub fn api_run(&self, code: &str) -> Value {
        let out = Command::new("python3")
            .arg("-c")
            .arg(format!("{API_CLIENT}\n{code}"))
            .env("PORT", self.server.port.to_string())
            .env("CA", &self.ca)
            .env(
                "SUBMISSION",
                self.server.port_of("Submission port:").to_string(),
            )
            .env("IMAP", self.server.port_of("IMAP port:").to_string())
            .env("IMAPS", self.server.port_of("IMAPS port:").to_string())
            .env("PW", JANE_PW)
            .output()
            .expect("python3 is installed by the test command");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "python failed: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }
}

/// Runs a Python snippet with `PORT` and `CA` set; returns stdout.
pub fn python(port: u16, ca: &Path, code: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .env("PORT", port.to_string())
        .env("CA", ca)
        .output()
        .expect("python3 is installed by the test command");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub const PY_PRELUDE: &str = r#"
import os, ssl, json, urllib.request, urllib.parse, urllib.error
ctx = ssl.create_default_context(cafile=os.environ["CA"])
base = "https://localhost:%s" % os.environ["PORT"]
def get(path):
    try:
        r = urllib.request.urlopen(base + path, context=ctx, timeout=10)
        return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()
def post(path, fields):
    data = urllib.parse.urlencode(fields).encode()
    try:
        r = urllib.request.urlopen(urllib.request.Request(base + path, data=data), context=ctx, timeout=10)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
"#;

/// Validates an HL7 file with the project's copy of hl7-validate.py
/// (`--strict-warnings`); returns its report.
pub fn hl7_validate(path: &std::path::Path) -> String {
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/hl7_validate.py"
        ))
        .arg("--strict-warnings")
        .arg(path)
        .output()
        .expect("python3 with hl7apy is installed by the test command");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "hl7apy says:\n{text}");
    text
}

/// Validates a message that carries a PDF display. hl7apy 1.3.5 types
/// every OBX-5 as ST (at most 199 characters) whatever OBX-2 says, so a
/// base64 PDF can never pass it; the message is checked with its ED data
/// cut to 96 base64 characters instead (every other byte as written), and
/// the data itself is checked by decoding it (`pdf_of` in convert.rs) and reading it
/// with poppler.
pub fn hl7_validate_with_pdf(path: &std::path::Path) -> String {
    let raw = std::fs::read_to_string(path).unwrap();
    let mut cut = 0;
    let segments: Vec<String> = raw
        .split('\r')
        .map(|seg| {
            if !seg.starts_with("OBX|") || seg.split('|').nth(2) != Some("ED") {
                return seg.to_string();
            }
            let mut fields: Vec<String> = seg.split('|').map(str::to_string).collect();
            let mut parts: Vec<String> = fields[5].split('^').map(str::to_string).collect();
            assert_eq!(
                parts.len(),
                5,
                "ED: ^type^subtype^encoding^data: {}",
                &fields[5][..80]
            );
            assert_eq!(parts[3], "Base64");
            parts[4].truncate(96);
            fields[5] = parts.join("^");
            cut += 1;
            fields.join("|")
        })
        .collect();
    assert_eq!(cut, 1, "one PDF display");
    let short = path.with_extension("cut.hl7");
    std::fs::write(&short, segments.join("\r")).unwrap();
    hl7_validate(&short)
}

/// Two accounts that write to each other, both with the password
/// `correct horse battery`: Jane Citizen (an individual,
/// jane@athen.localhost) and Northside Medical (an organisation,
/// reception@northside.example), and the server running on them.
pub struct TwoPractices {
    pub server: Server,
    pub data: std::path::PathBuf,
    pub ca: std::path::PathBuf,
    pub _dir: tempfile::TempDir,
}

pub const JANE_PW: &str = "correct horse battery";

impl TwoPractices {
    /// `before_start` runs on the data directory before the server starts
    /// (settings that must be in place when mail arrives).
    pub fn start(before_start: impl FnOnce(&Path)) -> TwoPractices {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        create_individual(&data, "Jane Citizen", "jane@athen.localhost", JANE_PW);
        create_organisation(
            &data,
            "Northside Medical",
            "reception@northside.example",
            JANE_PW,
            &[],
        );
        before_start(&data);
        let server = Server::start(&data, &[]);
        TwoPractices {
            server,
            ca: data.join("tls/self-signed-cert.pem"),
            data,
            _dir: dir,
        }
    }

    /// Jane, logged in over submission with STARTTLS, runs `code` with an
    /// smtplib connection `c` (Python).
    pub fn jane_sends(&self, code: &str) -> String {
        python(
            self.server.port_of("Submission port:"),
            &self.ca,
            &format!(
                "import os, ssl, smtplib\nctx = ssl.create_default_context(cafile=os.environ['CA'])\n\
c = smtplib.SMTP('localhost', int(os.environ['PORT']), timeout=30)\nc.starttls(context=ctx)\n\
c.login('jane@athen.localhost', {JANE_PW:?})\n{code}\nc.quit()\n"
            ),
        )
    }
}

/// Runs a Python program with arguments; returns its standard output,
/// failing the test with its standard error if it fails.
pub fn python_script(code: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("python3 is installed by the test command");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A configuration file for `athen serve` on loopback: every port chosen
/// by the system, the given DNS server, the queue retrying every second,
/// `extra` lines in `[outbound]` and `routes` in `[outbound.routes]`.
pub fn server_config(
    dir: &Path,
    data: &Path,
    domain: &str,
    dns: &Dns,
    routes: &str,
    extra: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("{domain}.toml"));
    let mode = if extra.contains("mode = ") {
        ""
    } else {
        "mode = \"direct\"\n"
    };
    std::fs::write(
        &path,
        format!(
            "[server]\ndomain = \"{domain}\"\nhostname = \"localhost\"\ndata_dir = {:?}\n\n\
[listen]\naddress = \"127.0.0.1\"\nhttps = 0\nsmtp = 0\nsubmission = 0\nsubmissions = 0\nimap = 0\nimaps = 0\n\n\
[smtp]\ndns_servers = [{:?}]\n\n\
[outbound]\n{mode}retry_seconds = [1]\npoll_seconds = 1\n{extra}\n\
[outbound.routes]\n{routes}\n",
            data.to_str().unwrap(),
            dns.address()
        ),
    )
    .unwrap();
    path
}

/// The data of a TXT record in `athen dns-records` output.
pub fn txt_record(records: &str, name: &str) -> String {
    let line = records
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {records}"));
    let data = line.rsplit('\t').next().unwrap();
    data.split('"').filter(|s| !s.trim().is_empty()).collect()
}

/// Waits up to 30 s for `f` to give a value.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A free loopback port (for servers that must know each other's port
/// before either starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A self-signed certificate and key for `name`, made by openssl, at
/// `<dir>/<stem>-cert.pem` and `<dir>/<stem>-key.pem`.
pub fn self_signed(dir: &Path, stem: &str, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (
        dir.join(format!("{stem}-cert.pem")),
        dir.join(format!("{stem}-key.pem")),
    );
    assert!(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"
            ])
            .arg("-subj")
            .arg(format!("/CN={name}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    (cert, key)
}

/// A browser: `Browser()` with `.get(path)` and `.post(path, fields)`
/// returning (status, final path, text), following redirects and keeping
/// cookies; `csrf(text)` finds a form's CSRF token.
pub const BROWSER: &str = r#"
import os, re, ssl, json, time, http.cookiejar, urllib.request, urllib.parse, urllib.error
ctx = ssl.create_default_context(cafile=os.environ["CA"])
base = "https://localhost:%s" % os.environ["PORT"]
class Browser:
    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.o = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx),
                                             urllib.request.HTTPCookieProcessor(self.jar))
    def open(self, path, data=None):
        try:
            r = self.o.open(base + path, data=data, timeout=30)
            return r.status, urllib.parse.urlparse(r.geturl()).path, r.read()
        except urllib.error.HTTPError as e:
            return e.code, urllib.parse.urlparse(e.geturl()).path, e.read()
    def get(self, path):
        s, p, b = self.open(path)
        return s, p, b.decode("utf-8", "replace")
    def post(self, path, fields):
        s, p, b = self.open(path, urllib.parse.urlencode(fields).encode())
        return s, p, b.decode("utf-8", "replace")
    def login(self, who, pw):
        s, p, page = self.get("/login")
        return self.post("/login", {"csrf": csrf(page), "login": who, "password": pw})
def csrf(text):
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)
"#;

/// `post_multipart(browser, path, fields, files)`: files are
/// (field, file name, bytes).
pub const MULTIPART: &str = r#"
import uuid
def post_multipart(b, path, fields, files=()):
    boundary = "----athen" + uuid.uuid4().hex
    out = b""
    for k, v in fields.items():
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n" % (boundary, k)).encode() + v.encode() + b"\r\n"
    for k, name, data in files:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\nContent-Type: application/octet-stream\r\n\r\n" % (boundary, k, name)).encode() + data + b"\r\n"
    out += ("--%s--\r\n" % boundary).encode()
    req = urllib.request.Request(base + path, data=out, headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
    try:
        r = b.o.open(req, timeout=30)
        return r.status, urllib.parse.urlparse(r.geturl()).path, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, urllib.parse.urlparse(e.geturl()).path, e.read().decode("utf-8", "replace")
def errors(page):
    return re.findall(r'<span class="error" id="(\w+)-error">', page)
def statuses(page):
    return re.findall(r'<td class="status-(\w+)">', page)
"#;

pub fn browse(port: u16, ca: &std::path::Path, code: &str) -> Value {
    let out = python(port, ca, &format!("{BROWSER}\n{code}"));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}
