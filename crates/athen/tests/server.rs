//! The real server on an ephemeral loopback port, spoken to by clients we
//! did not write: Python's `urllib`/`ssl` and `openssl s_client`.

mod common;
use common::*;
use std::process::{Command, Stdio};

#[test]
fn localserve_serves_https_with_its_own_certificate_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    assert!(server.summary.contains("athen.localhost"));
    assert!(
        server
            .summary
            .contains(&data.canonicalize().unwrap().display().to_string())
    );
    let ca = data.join("tls/self-signed-cert.pem");
    assert!(ca.exists());

    // Python verifies the certificate against the self-signed one (host name checked).
    let out = python(server.port, &ca, &format!("{PY_PRELUDE}
s, h, body = get('/healthz')
print(s, json.loads(body)['status'])
s, h, body = get('/')
h = {{k.lower(): v for k, v in h.items()}}
print(s, 'default-src' in h['content-security-policy'], h['x-frame-options'], h['x-content-type-options'])
s, h, body = get('/nowhere')
print(s)
"));
    assert_eq!(out, "200 ok\n200 True DENY nosniff\n404\n");

    // openssl s_client: TLS 1.3 offered and the chain verifies.
    let s_client = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", server.port),
            "-servername",
            "localhost",
            "-CAfile",
        ])
        .arg(&ca)
        .args(["-verify_return_error", "-brief"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&s_client.stdout),
        String::from_utf8_lossy(&s_client.stderr)
    );
    assert!(text.contains("TLSv1.3"), "{text}");
    assert!(text.contains("Verification: OK"), "{text}");
    // TLS 1.1 and older are refused.
    let old = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", server.port),
            "-tls1_1",
            "-brief",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!old.status.success());

    let status = server.stop();
    assert!(status.success(), "{status:?}");

    // A restart keeps the certificate.
    let before = std::fs::read(&ca).unwrap();
    let server = Server::start(&data, &[]);
    assert_eq!(std::fs::read(&ca).unwrap(), before);
    // A second server on the same data directory is refused.
    let second = Command::new(BIN)
        .args([
            "localserve",
            "--data-dir",
            data.to_str().unwrap(),
            "--https-port",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"));
    assert!(server.stop().success());
}

#[test]
fn first_administrator_is_created_once_with_the_printed_link() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let token = server.setup_token().expect("a set-up link on first start");
    let ca = data.join("tls/self-signed-cert.pem");
    let out = python(server.port, &ca, &format!("{PY_PRELUDE}
tok = {token:?}
s, h, body = get('/setup?token=' + tok)
print(s, 'Create the administrator' in body)
print(get('/setup')[0])
good = dict(token=tok, name='Ada <Admin>', login='ada', password='operator password 1', password_again='operator password 1')
print(post('/setup', dict(good, password_again='different password'))[0])
print(post('/setup', dict(good, token='WRONGTOKEN'))[0])
s, body = post('/setup', good)
print(s, 'Ada &lt;Admin&gt;' in body, '<Admin>' not in body)
print(post('/setup', good)[0])
print(get('/setup?token=' + tok)[0])
"));
    assert_eq!(out, "200 True\n400\n422\n403\n200 True True\n410\n410\n");
    assert!(server.stop().success());
    // Once an administrator exists, no link is printed.
    let server = Server::start(&data, &[]);
    assert!(server.setup_token().is_none());
    assert!(server.stop().success());
}

#[test]
fn bad_configuration_stops_the_server_with_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let example = run(&["config", "example"], "");
    assert!(example.status.success());
    let good = dir.path().join("good.toml");
    std::fs::write(&good, &example.stdout).unwrap();
    let out = run(&["config", "check", "--config", good.to_str().unwrap()], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[listen]\nhtps = 8443\n").unwrap();
    for cmd in [["config", "check", "--config"], ["serve", "--config", ""]] {
        let args: Vec<&str> = cmd
            .iter()
            .copied()
            .filter(|a| !a.is_empty())
            .chain([bad.to_str().unwrap()])
            .collect();
        let out = run(&args, "");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("bad.toml") && err.contains("htps") && err.contains("unknown field"),
            "{err}"
        );
    }

    // A bad value from the environment is named as such.
    let out = Command::new(BIN)
        .args(["config", "check", "--config", good.to_str().unwrap()])
        .env("ATHEN_LISTEN__HTTPS", "99999")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ATHEN_LISTEN__HTTPS"));

    // localserve flags are checked too.
    let out = Command::new(BIN)
        .args(["localserve", "--domain", "nodot", "--data-dir"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("domain"));
}

#[test]
fn serve_runs_from_a_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dns = Dns::empty();
    let config = dir.path().join("athen.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndomain = \"clinic.example\"\nhostname = \"localhost\"\ndata_dir = {:?}\n\n\
[listen]\naddress = \"127.0.0.1\"\nhttps = 0\nsmtp = 0\nsubmission = 0\nsubmissions = 0\nimap = 0\nimaps = 0\n\n\
[smtp]\ndns_servers = [{:?}]\n",
            data.to_str().unwrap(),
            dns.address()
        ),
    )
    .unwrap();
    let server = Server::start_with(&["serve", "--config", config.to_str().unwrap()]);
    assert!(
        server.summary.contains("clinic.example"),
        "{}",
        server.summary
    );
    let ca = data.join("tls/self-signed-cert.pem");
    let out = python(
        server.port,
        &ca,
        &format!("{PY_PRELUDE}\ns, h, body = get('/')\nprint(s, 'clinic.example' in body)\n"),
    );
    assert_eq!(out, "200 True\n");
    assert!(server.stop().success());
}

/// Issue 20, finding 3: HTTPS has a per-address connection limit like
/// SMTP and IMAP. One address holds at most 100 connections; the next is
/// closed before TLS; another address (127.0.0.2) still gets in, and a
/// slot freed is taken again.
#[test]
fn one_address_holds_at_most_a_hundred_https_connections() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let ca = data.join("tls/self-signed-cert.pem");
    let out = python(
        server.port,
        &ca,
        r#"
import os, ssl, socket, time
port = int(os.environ["PORT"])
ctx = ssl.create_default_context(cafile=os.environ["CA"])
def tls(source="127.0.0.1"):
    raw = socket.create_connection(("localhost", port), timeout=10, source_address=(source, 0))
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        if not s.recv(12).startswith(b"HTTP/1.1 200"):
            raise OSError("no answer")
        return s
    except (OSError, ssl.SSLError):
        raw.close()
        return None
held = [tls() for _ in range(100)]
print(sum(1 for s in held if s), tls() is None, tls("127.0.0.2") is not None)
held[0].close()
time.sleep(0.3)
print(tls() is not None)
"#,
    );
    assert_eq!(out, "100 True True\nTrue\n");
    drop(server);
}
