//! The outbound queue against real peers: a Python aiosmtpd server playing a
//! remote MX (accepts, 4xx then accepts, 5xx), and a second ATHEN server on
//! another loopback port and domain.

mod common;
use common::*;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PW: &str = "correct horse battery";

struct Peer(Child, u16);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A temporary directory with a data directory holding Jane's account
/// and an empty folder for what peers receive.
fn fixture() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let received = dir.path().join("received");
    std::fs::create_dir_all(&received).unwrap();
    create_individual(&data, "Jane Citizen", "jane@athen.localhost", PW);
    confirm(&data, "jane@athen.localhost");
    (dir, data, received)
}

/// The messages a peer has written to `dir`, sorted by their text.
fn received_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The peer MX with a self-signed certificate.
fn peer_mx(dir: &Path, out: &Path) -> Peer {
    let (cert, key) = self_signed(dir, "peer", "peer.test");
    std::fs::create_dir_all(out).unwrap();
    support_server("peer_mx.py", &[&cert, &key, out])
}

/// Starts a Python helper from tests/support that prints its port first.
fn support_server(script: &str, args: &[&Path]) -> Peer {
    let mut child = Command::new("python3")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/support")
                .join(script),
        )
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with aiosmtpd is installed by the test command");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("helper port");
    Peer(child, port)
}

/// Submits one message over 587 with smtplib (with RFC 3461 NOTIFY if
/// given); returns what sendmail returned (refused recipients).
fn submit(
    port: u16,
    ca: &Path,
    from: &str,
    to: &[&str],
    subject: &str,
    notify: Option<&str>,
) -> String {
    let rcpt_options = match notify {
        Some(n) => format!("['NOTIFY={n}']"),
        None => "[]".into(),
    };
    let code = format!(
        r#"
import os, ssl, smtplib
ctx = ssl.create_default_context(cafile=os.environ["CA"])
s = smtplib.SMTP('localhost', int(os.environ["PORT"]), timeout=30)
s.starttls(context=ctx)
s.login({from:?}, {PW:?})
msg = 'From: <{from}>\r\nTo: ' + ', '.join({to:?}) + '\r\nSubject: {subject}\r\n\r\nDear colleague,\r\n.a line with a dot\r\n'
print(s.sendmail({from:?}, {to:?}, msg.encode(), mail_options=['ENVID=TESTENV1'], rcpt_options={rcpt_options}))
s.quit()
"#
    );
    python(port, ca, &code)
}

/// The TXT data of the `athen dns-records` line starting with `name`,
/// its quoted 255-octet strings joined again.
/// The events of `login`'s audit trail of one kind, as JSON objects.
fn trail(data: &Path, login: &str, kind: &str) -> Vec<serde_json::Value> {
    let (rc, v) = mailbox(data, login, PW, &["audit"]);
    assert_eq!(rc, 0, "{v}");
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

/// Whether the trail has an event of `kind` for `recipient`.
fn has_event(events: &[serde_json::Value], recipient: &str) -> bool {
    events.iter().any(|e| e["correspondent"] == recipient)
}

fn subjects(data: &Path, login: &str) -> Vec<String> {
    let (rc, v) = mailbox(data, login, PW, &["list"]);
    assert_eq!(rc, 0, "{v}");
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn queue_delivers_retries_and_reports_failures_to_the_sender() {
    let (dir, data, received) = fixture();
    let peer = peer_mx(dir.path(), &received);
    let dns = Dns::empty();
    let cfg = server_config(
        dir.path(),
        &data,
        "athen.localhost",
        &dns,
        &format!("\"peer.test\" = \"127.0.0.1:{}\"", peer.1),
        "delay_report_after_minutes = 0",
    );
    let server = Server::start_with(&["serve", "--config", cfg.to_str().unwrap()]);
    let ca = data.join("tls/self-signed-cert.pem");
    let out = submit(
        server.port_of("Submission port:"),
        &ca,
        "jane@athen.localhost",
        &["ok@peer.test", "tempfail@peer.test", "reject@peer.test"],
        "Referral QZOUT",
        None,
    );
    assert_eq!(out, "{}\n", "all three queued");

    // ok@ at once; tempfail@ after its retry; reject@ never.
    let files = wait_for("two deliveries at the peer", || {
        let files = received_files(&received);
        (files.len() == 2).then_some(files)
    });
    let rcpts: Vec<&str> = files
        .iter()
        .map(|f| {
            f.lines()
                .next()
                .unwrap()
                .trim_start_matches("X-Peer-Rcpt: ")
        })
        .collect();
    assert!(
        rcpts.contains(&"ok@peer.test") && rcpts.contains(&"tempfail@peer.test"),
        "{rcpts:?}"
    );
    for f in &files {
        assert!(
            f.contains("X-Peer-TLS: True"),
            "sent over STARTTLS only: {f}"
        );
        assert!(f.contains("DKIM-Signature: v=1; a=rsa-sha256;"), "{f}");
        assert!(f.contains("d=athen.localhost"), "{f}");
        assert!(
            f.contains("\r\n.a line with a dot\r\n"),
            "dot-stuffing undone by the peer: {f}"
        );
        // A header line, not the letters anywhere (a base64 signature
        // can hold "Bcc" by chance).
        assert!(
            !f.lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{f}"
        );
    }

    // The DKIM signature verifies with dkimpy against the published record.
    let records = run(&["dns-records", "--config", cfg.to_str().unwrap()], "");
    let records = String::from_utf8(records.stdout).unwrap();
    let dkim_txt = txt_record(&records, "athen._domainkey.");
    let first = received.join("1.eml");
    let verify = Command::new("python3")
        .arg("-c")
        .arg(
            "import dkim, sys\nraw = open(sys.argv[1], 'rb').read().split(b'\\r\\n', 2)[2]\n\
txt = sys.argv[2].encode()\n\
print(dkim.verify(raw, dnsfunc=lambda name, timeout=5: txt))",
        )
        .arg(&first)
        .arg(&dkim_txt)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&verify.stdout),
        "True\n",
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // Jane is told: the failure report (reject@) is in her inbox and her
    // audit trail; the delay report (tempfail@ was still waiting after its
    // first attempt) went into the trail only.
    let list = wait_for("the failure report in Jane's inbox", || {
        let s = subjects(&data, "jane@athen.localhost");
        s.contains(&"[ATHEN] MESSAGE DELIVERY ERROR: Referral QZOUT".to_string())
            .then_some(s)
    });
    assert!(
        !list
            .iter()
            .any(|s| s.starts_with("[ATHEN] Mail in transit")),
        "{list:?}"
    );
    let failed = trail(&data, "jane@athen.localhost", "failed");
    assert!(has_event(&failed, "reject@peer.test"), "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|e| e["correspondent"] != "reject@peer.test"
                || e["detail"].as_str().unwrap().contains("550 5.1.1")),
        "{failed:?}"
    );
    assert_eq!(failed.len(), 1, "the report is recorded once: {failed:?}");
    let delayed = trail(&data, "jane@athen.localhost", "delayed");
    assert!(has_event(&delayed, "tempfail@peer.test"), "{delayed:?}");
    let (_, v) = mailbox(&data, "jane@athen.localhost", PW, &["list"]);
    let uid_of = |subject: &str| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["subject"].as_str() == Some(subject))
            .unwrap()["uid"]
            .to_string()
    };
    let failure = read_message(
        &data,
        "jane@athen.localhost",
        PW,
        &uid_of("[ATHEN] MESSAGE DELIVERY ERROR: Referral QZOUT"),
    );
    for needle in [
        "Return-Path: <>",
        "Auto-Submitted: auto-replied",
        "report-type=delivery-status",
        "Original-Envelope-Id: TESTENV1",
        "Final-Recipient: rfc822; reject@peer.test\r\nAction: failed\r\nStatus: 5.1.1",
        "Diagnostic-Code: smtp; RCPT TO at 127.0.0.1: 550 5.1.1 No such user here",
        "Content-Type: text/rfc822-headers",
        "Subject: Referral QZOUT",
    ] {
        assert!(
            failure.contains(needle),
            "{needle:?} missing from:\n{failure}"
        );
    }
    assert!(!failure.contains("Dear colleague"), "headers only");
    // Nothing is left in the queue, and its encrypted copy is gone.
    wait_for("the queue to empty", || {
        let n = std::fs::read_dir(data.join("blobs/queue"))
            .map(|d| d.count())
            .unwrap_or(0);
        (n == 0).then_some(())
    });
    assert!(server.stop().success());
}

#[test]
fn two_athen_servers_exchange_signed_mail() {
    let dir = tempfile::tempdir().unwrap();
    let (data_a, data_b) = (dir.path().join("a"), dir.path().join("b"));
    create_individual(&data_a, "Dr Alice", "alice@a.test", PW);
    create_individual(&data_b, "Dr Bob", "bob@b.test", PW);
    confirm(&data_a, "alice@a.test");
    confirm(&data_b, "bob@b.test");
    // A's DKIM key exists before A starts, so B's DNS can publish it.
    let dns_a = Dns::empty();
    let cfg_a_draft = server_config(dir.path(), &data_a, "a.test", &dns_a, "", "");
    let records = run(
        &["dns-records", "--config", cfg_a_draft.to_str().unwrap()],
        "",
    );
    assert!(records.status.success());
    let records = String::from_utf8(records.stdout).unwrap();
    let dkim_txt = txt_record(&records, "athen._domainkey.a.test.");
    let dns_b = Dns::start(&serde_json::json!({
        "athen._domainkey.a.test": dkim_txt,
        "a.test": "v=spf1 ip4:127.0.0.1 -all",
        "_dmarc.a.test": "v=DMARC1; p=reject",
    }));
    let cfg_b = server_config(dir.path(), &data_b, "b.test", &dns_b, "", "");
    let b = Server::start_with(&["serve", "--config", cfg_b.to_str().unwrap()]);
    let cfg_a = server_config(
        dir.path(),
        &data_a,
        "a.test",
        &dns_a,
        &format!("\"b.test\" = \"127.0.0.1:{}\"", b.port_of("SMTP port:")),
        "",
    );
    let a = Server::start_with(&["serve", "--config", cfg_a.to_str().unwrap()]);
    let out = submit(
        a.port_of("Submission port:"),
        &data_a.join("tls/self-signed-cert.pem"),
        "alice@a.test",
        &["bob@b.test"],
        "Discharge summary QZTWO",
        None,
    );
    assert_eq!(out, "{}\n");
    wait_for("Bob to receive Alice's letter", || {
        let s = subjects(&data_b, "bob@b.test");
        (s == ["Discharge summary QZTWO"]).then_some(())
    });
    let raw = read_message(&data_b, "bob@b.test", PW, "1");
    for needle in [
        "dkim=pass",
        "spf=pass",
        "dmarc=pass",
        "Return-Path: <alice@a.test>",
    ] {
        assert!(raw.contains(needle), "{needle} missing:\n{raw}");
    }
    // Alice has her Sent copy and no report (nothing went wrong).
    assert_eq!(subjects(&data_a, "alice@a.test"), Vec::<String>::new());
    assert!(a.stop().success());
    assert!(b.stop().success());
}

/// A private CA, and a certificate it issued for the peer's hosts.
struct Pki {
    ca: std::path::PathBuf,
    /// The leaf, then the CA.
    chain: std::path::PathBuf,
    key: std::path::PathBuf,
    /// SHA-256 of the leaf's SubjectPublicKeyInfo, hex: a TLSA 3 1 1 record.
    spki_sha256: String,
}

fn pki(dir: &Path, names: &[&str]) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ATHEN test CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
    let p = Pki {
        ca: dir.join("ca.pem"),
        chain: dir.join("chain.pem"),
        key: dir.join("leaf-key.pem"),
        spki_sha256: String::new(),
    };
    std::fs::write(&p.ca, ca_cert.pem()).unwrap();
    std::fs::write(&p.chain, leaf.pem() + &ca_cert.pem()).unwrap();
    std::fs::write(&p.key, leaf_key.serialize_pem()).unwrap();
    let spki: String = rcgen::PublicKeyData::subject_public_key_info(&leaf_key)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let hash = Command::new("python3")
        .args([
            "-c",
            "import hashlib, sys; print(hashlib.sha256(bytes.fromhex(sys.argv[1])).hexdigest())",
            &spki,
        ])
        .output()
        .unwrap();
    Pki {
        spki_sha256: String::from_utf8(hash.stdout).unwrap().trim().to_string(),
        ..p
    }
}

/// The text of every message in `login`'s inbox whose subject starts with `prefix`.
fn messages_starting(data: &Path, login: &str, prefix: &str) -> String {
    let (_, v) = mailbox(data, login, PW, &["list"]);
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["subject"].as_str().is_some_and(|s| s.starts_with(prefix)))
        .map(|m| read_message(data, login, PW, &m["uid"].to_string()))
        .collect()
}

#[test]
fn dane_and_mta_sts_decide_which_certificates_are_accepted() {
    let (dir, data, received) = fixture();
    let pki = pki(
        dir.path(),
        &["mx.peer.test", "mta-sts.sts.test", "mta-sts.stsbad.test"],
    );
    let peer = support_server("peer_mx.py", &[&pki.chain, &pki.key, &received]);
    let policies = dir.path().join("policies.json");
    std::fs::write(
        &policies,
        serde_json::json!({
            "mta-sts.sts.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.peer.test\r\nmax_age: 86400\r\n",
            "mta-sts.stsbad.test": "version: STSv1\nmode: enforce\nmx: *.elsewhere.test\nmax_age: 86400\n",
        })
        .to_string(),
    )
    .unwrap();
    let policy_server = support_server("mta_sts_server.py", &[&pki.chain, &pki.key, &policies]);
    let tlsa = |name: &str| format!("_{}._tcp.{name}", peer.1);
    let loopback = serde_json::json!({"A": ["127.0.0.1"]});
    let signed = serde_json::json!({"A": ["127.0.0.1"], "secure": true});
    let dns = Dns::start(&serde_json::json!({
        // DANE: a signed TLSA 3 1 1 record for the peer's key …
        "dane.test": {"MX": [[10, "mx.dane.test"]]},
        "mx.dane.test": signed,
        tlsa("mx.dane.test"): {"TLSA": [[3, 1, 1, pki.spki_sha256]], "secure": true},
        // … and one that names another key.
        "wrongdane.test": {"MX": [[10, "mx.wrongdane.test"]]},
        "mx.wrongdane.test": signed,
        tlsa("mx.wrongdane.test"): {"TLSA": [[3, 1, 1, "00".repeat(32)]], "secure": true},
        // MTA-STS: an enforced policy naming the MX …
        "sts.test": {"MX": [[10, "mx.peer.test"]]},
        "_mta-sts.sts.test": "v=STSv1; id=20261124",
        "mta-sts.sts.test": loopback,
        "mx.peer.test": loopback,
        // … and one that names other hosts only.
        "stsbad.test": {"MX": [[10, "mx.peer.test"]]},
        "_mta-sts.stsbad.test": "v=STSv1; id=1",
        "mta-sts.stsbad.test": loopback,
    }));
    let cfg = server_config(
        dir.path(),
        &data,
        "athen.localhost",
        &dns,
        "",
        &format!(
            "mx_port = {}\nmta_sts_port = {}\nca_file = {:?}\n",
            peer.1,
            policy_server.1,
            pki.ca.to_str().unwrap()
        ),
    );
    let server = Server::start_with(&["serve", "--config", cfg.to_str().unwrap()]);
    let out = submit(
        server.port_of("Submission port:"),
        &data.join("tls/self-signed-cert.pem"),
        "jane@athen.localhost",
        &[
            "ok@dane.test",
            "ok@wrongdane.test",
            "ok@sts.test",
            "ok@stsbad.test",
        ],
        "Referral QZTLS",
        Some("SUCCESS,FAILURE"),
    );
    assert_eq!(out, "{}\n", "all four queued");

    // Delivered where the certificate checked out, with the check recorded
    // in Jane's audit trail (the relay reports went there, not her inbox).
    let reports = wait_for("relay results for dane.test and sts.test", || {
        let relayed = trail(&data, "jane@athen.localhost", "relayed");
        (has_event(&relayed, "ok@dane.test") && has_event(&relayed, "ok@sts.test"))
            .then(|| serde_json::to_string(&relayed).unwrap())
    });
    assert!(
        messages_starting(&data, "jane@athen.localhost", "[ATHEN] Successful").is_empty(),
        "relay reports are consumed into the trail"
    );
    for needle in [
        "certificate verified by DANE (TLSA 3 1 1)",
        "certificate verified (MTA-STS)",
    ] {
        assert!(reports.contains(needle), "{needle:?} missing:\n{reports}");
    }
    assert!(!reports.contains("wrongdane"), "{reports}");
    assert!(!reports.contains("stsbad"), "{reports}");
    let delivered = received_files(&received).len();
    assert_eq!(delivered, 2, "only the two authenticated deliveries");

    // The other two wait in the queue with the reason, and are retried.
    let queue = wait_for("two failed attempts on record", || {
        let v = admin_ok(&data, &["queue", "list"], "");
        let rcpts: Vec<serde_json::Value> = v["messages"][0]["recipients"]
            .as_array()?
            .iter()
            .filter(|r| r["attempts"].as_u64().unwrap_or(0) >= 2)
            .cloned()
            .collect();
        (rcpts.len() == 2).then_some(rcpts)
    });
    let reason = |addr: &str| {
        queue
            .iter()
            .find(|r| r["address"] == addr)
            .unwrap_or_else(|| panic!("{addr} not queued: {queue:?}"))["last_reply"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let r = reason("ok@wrongdane.test");
    assert!(
        r.contains("DANE: the certificate matches none of the host's TLSA records"),
        "{r}"
    );
    let r = reason("ok@stsbad.test");
    assert!(
        r.contains("mx.peer.test is not named in stsbad.test's MTA-STS policy"),
        "{r}"
    );
    assert_eq!(received_files(&received).len(), 2);

    // The policy is remembered across a restart (RFC 8461 §5.1): with its
    // web server gone, stsbad.test's mail is still held back.
    let attempts = |v: &serde_json::Value| -> Option<(u64, String)> {
        v["messages"][0]["recipients"]
            .as_array()?
            .iter()
            .find(|r| r["address"] == "ok@stsbad.test")
            .map(|r| {
                (
                    r["attempts"].as_u64().unwrap_or(0),
                    r["last_reply"].as_str().unwrap_or("").to_string(),
                )
            })
    };
    assert!(server.stop().success());
    drop(policy_server);
    let before = attempts(&admin_ok(&data, &["queue", "list"], ""))
        .unwrap()
        .0;
    let server = Server::start_with(&["serve", "--config", cfg.to_str().unwrap()]);
    let r = wait_for("a retry after the restart", || {
        attempts(&admin_ok(&data, &["queue", "list"], ""))
            .filter(|(n, _)| *n > before)
            .map(|(_, reply)| reply)
    });
    assert!(
        r.contains("not named in stsbad.test's MTA-STS policy"),
        "{r}"
    );
    assert_eq!(received_files(&received).len(), 2);
    assert!(server.stop().success());
}

#[test]
fn senders_who_ask_are_told_of_delivery_to_a_mailbox_here() {
    let (dir, data, received) = fixture();
    create_individual(&data, "Bob Citizen", "bob@athen.localhost", PW);
    confirm(&data, "bob@athen.localhost");
    let peer = peer_mx(dir.path(), &received);
    // peer.test vouches for its sender by SPF; forged.test publishes
    // nothing, so its reports would be backscatter to a forged address.
    let dns = Dns::start(&serde_json::json!({"peer.test": "v=spf1 ip4:127.0.0.1 -all"}));
    let cfg = server_config(
        dir.path(),
        &data,
        "athen.localhost",
        &dns,
        &format!(
            "\"peer.test\" = \"127.0.0.1:{0}\"\n\"forged.test\" = \"127.0.0.1:{0}\"",
            peer.1
        ),
        "",
    );
    let server = Server::start_with(&["serve", "--config", cfg.to_str().unwrap()]);
    let ca = data.join("tls/self-signed-cert.pem");

    // From another server: the MX offers DSN and keeps ENVID, NOTIFY and ORCPT.
    let code = r#"
import os, ssl, smtplib
ctx = ssl.create_default_context(cafile=os.environ["CA"])
s = smtplib.SMTP('localhost', int(os.environ["PORT"]), timeout=30)
s.starttls(context=ctx)
s.ehlo('mx.peer.test')
assert s.has_extn('dsn'), s.esmtp_features
# An ENVID that would break a report's header lines is refused (RFC 3461 §4.4).
print(s.mail('clinic@peer.test', ['ENVID=A+0D+0AInjected:+20x'])[0])
s.rset()
s.mail('clinic@peer.test', ['ENVID=QZENV42', 'RET=HDRS'])
print(s.rcpt('jane@athen.localhost', ['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;Jane@athen.localhost'])[0])
print(s.rcpt('bob@athen.localhost', ['NOTIFY=FAILURE'])[0])
print(s.data(b'From: <clinic@peer.test>\r\nTo: <jane@athen.localhost>\r\nSubject: Results QZDSN\r\n\r\nSecret clinical text\r\n')[0])
# An unverifiable sender asking for a report gets its mail delivered, but no report.
s.mail('someone@forged.test')
s.rcpt('jane@athen.localhost', ['NOTIFY=SUCCESS'])
print(s.data(b'From: <someone@forged.test>\r\nSubject: Forged QZF\r\n\r\nHello\r\n')[0])
s.quit()
"#;
    assert_eq!(
        python(server.port_of("SMTP port:"), &ca, code),
        "501\n250\n250\n250\n250\n"
    );
    let report = wait_for("the delivered report at the sender's server", || {
        let path = received.join("1.eml");
        path.exists()
            .then(|| std::fs::read_to_string(path).unwrap())
    });
    for needle in [
        "X-Peer-Rcpt: clinic@peer.test\r\n",
        "X-Peer-From: <>\r\n",
        "From: Mail Delivery System <MAILER-DAEMON@athen.localhost>\r\n",
        "Subject: [ATHEN] Successful Mail Delivery: Results QZDSN\r\n",
        "Auto-Submitted: auto-replied\r\n",
        "Original-Envelope-Id: QZENV42\r\n",
        "Original-Recipient: rfc822;Jane@athen.localhost\r\nFinal-Recipient: rfc822; jane@athen.localhost\r\nAction: delivered\r\nStatus: 2.0.0\r\n",
        "d=athen.localhost",
    ] {
        assert!(report.contains(needle), "{needle:?} missing:\n{report}");
    }
    assert!(!report.contains("bob@"), "Bob did not ask: {report}");
    assert!(!report.contains("Secret clinical text"), "{report}");

    // From a user here to a user here: the report goes into the sender's
    // audit trail, which already says "delivered", so it is recorded once.
    let out = submit(
        server.port_of("Submission port:"),
        &ca,
        "jane@athen.localhost",
        &["bob@athen.localhost"],
        "Referral QZLOCAL",
        Some("SUCCESS"),
    );
    assert_eq!(out, "{}\n");
    let delivered = wait_for("Jane's delivered report consumed", || {
        let (_, v) = mailbox(&data, "jane@athen.localhost", PW, &["audit"]);
        let d = trail(&data, "jane@athen.localhost", "delivered");
        (v["audit_merged"] == 0 && has_event(&d, "bob@athen.localhost")).then_some(d)
    });
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["envid"], "TESTENV1");
    assert!(
        messages_starting(&data, "jane@athen.localhost", "[ATHEN] Successful").is_empty(),
        "the report is not shown as mail"
    );
    // One report only, and nothing about a null-sender report.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(received_files(&received).len(), 1);
    assert!(server.stop().success());
}

#[test]
fn a_slow_server_holds_up_only_its_own_mail() {
    let (dir, data, received) = fixture();
    let peer = peer_mx(dir.path(), &received);
    let dns = Dns::empty();
    let route = format!("\"peer.test\" = \"127.0.0.1:{}\"", peer.1);
    let cfg = server_config(dir.path(), &data, "athen.localhost", &dns, &route, "");
    let server = Server::start_with(&["serve", "--config", cfg.to_str().unwrap()]);
    let (port, ca) = (
        server.port_of("Submission port:"),
        data.join("tls/self-signed-cert.pem"),
    );
    let rcpts = || -> Vec<String> {
        received_files(&received)
            .iter()
            .map(|f| f.lines().next().unwrap_or("").to_string())
            .collect()
    };
    let slow = ["slow@peer.test"];
    assert_eq!(
        submit(port, &ca, "jane@athen.localhost", &slow, "Slow QZ1", None),
        "{}\n"
    );
    // The slow delivery is under way (the peer answers RCPT after 8 s) …
    std::thread::sleep(Duration::from_millis(500));
    let ok = ["ok@peer.test"];
    assert_eq!(
        submit(port, &ca, "jane@athen.localhost", &ok, "Quick QZ2", None),
        "{}\n"
    );
    // … and the next message goes past it.
    let first = wait_for("the quick message", || {
        let r = rcpts();
        (!r.is_empty()).then_some(r)
    });
    assert_eq!(first, ["X-Peer-Rcpt: ok@peer.test"]);
    wait_for("the slow message too", || {
        (rcpts().len() == 2).then_some(())
    });
    assert!(server.stop().success());
}

#[test]
fn smarthost_must_prove_its_name_and_gets_the_password() {
    let (dir, data, received) = fixture();
    let pki = pki(dir.path(), &["relay.test"]);
    let password_file = dir.path().join("relay-password");
    std::fs::write(&password_file, "s3cret relay\n").unwrap();
    let relay = support_server(
        "peer_mx.py",
        &[
            &pki.chain,
            &pki.key,
            &received,
            Path::new("athen:s3cret relay"),
        ],
    );
    let dns = Dns::start(&serde_json::json!({"relay.test": {"A": ["127.0.0.1"]}}));
    let smarthost = format!(
        "mode = \"smarthost\"\nsmarthost_host = \"relay.test\"\nsmarthost_port = {}\n\
smarthost_username = \"athen\"\nsmarthost_password_file = {:?}\n",
        relay.1,
        password_file.to_str().unwrap()
    );
    let trusted = format!("{smarthost}ca_file = {:?}\n", pki.ca.to_str().unwrap());
    let cfg = server_config(dir.path(), &data, "athen.localhost", &dns, "", &trusted);
    let server = Server::start_with(&["serve", "--config", cfg.to_str().unwrap()]);
    let ca = data.join("tls/self-signed-cert.pem");
    let to = ["ok@elsewhere.test"];
    let port = server.port_of("Submission port:");
    let out = submit(
        port,
        &ca,
        "jane@athen.localhost",
        &to,
        "Via relay QZ1",
        Some("SUCCESS"),
    );
    assert_eq!(out, "{}\n");
    let got = wait_for("the relay to receive the message", || {
        std::fs::read_to_string(received.join("1.eml")).ok()
    });
    for needle in [
        "X-Peer-Rcpt: ok@elsewhere.test\r\n",
        "X-Peer-TLS: True\r\n",
        "X-Peer-Auth: athen\r\n",
    ] {
        assert!(got.contains(needle), "{needle:?} missing:\n{got}");
    }
    let relayed = wait_for("Jane's relay result", || {
        let r = trail(&data, "jane@athen.localhost", "relayed");
        (!r.is_empty()).then_some(r)
    });
    assert!(
        relayed[0]["tls"]
            .as_str()
            .unwrap_or_default()
            .contains("certificate verified (smarthost)"),
        "{relayed:?}"
    );
    // The relayed message leaves the queue (after its "relayed" report),
    // so what the next server's queue shows is only the next message.
    wait_for("the relayed message to leave the queue", || {
        let v = admin_ok(&data, &["queue", "list"], "");
        v["messages"].as_array().unwrap().is_empty().then_some(())
    });
    assert!(server.stop().success());

    // Without the private CA, the relay's certificate proves nothing: the
    // password is not sent and the mail waits.
    let untrusted_dir = dir.path().join("untrusted");
    std::fs::create_dir_all(&untrusted_dir).unwrap();
    let cfg = server_config(
        &untrusted_dir,
        &data,
        "athen.localhost",
        &dns,
        "",
        &smarthost,
    );
    let server = Server::start_with(&["serve", "--config", cfg.to_str().unwrap()]);
    let port = server.port_of("Submission port:");
    let out = submit(
        port,
        &ca,
        "jane@athen.localhost",
        &to,
        "Via relay QZ2",
        None,
    );
    assert_eq!(out, "{}\n");
    let reply = wait_for("a refused attempt on record", || {
        let v = admin_ok(&data, &["queue", "list"], "");
        let r = &v["messages"][0]["recipients"][0];
        (r["attempts"].as_u64().unwrap_or(0) >= 1).then(|| r["last_reply"].to_string())
    });
    assert!(
        reply.contains("certificate not valid (smarthost requires it)"),
        "{reply}"
    );
    assert!(!received.join("2.eml").exists());
    assert!(server.stop().success());
}
