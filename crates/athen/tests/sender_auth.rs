//! SPF, DKIM and DMARC of incoming mail, checked against a DNS server on
//! loopback (dnslib), with messages signed by dkimpy and sent with smtplib.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

const PW: &str = "correct horse battery";

/// An RSA key for remote.example's DKIM, and the DNS records of two domains.
fn dns(dir: &Path) -> Dns {
    let key = dir.join("dkim.pem");
    assert!(
        Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&key)
            .arg("2048")
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let der = Command::new("openssl")
        .args(["rsa", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let b64 = Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut b64 = b64;
    std::io::Write::write_all(b64.stdin.as_mut().unwrap(), &der.stdout).unwrap();
    drop(b64.stdin.take());
    let public = String::from_utf8(b64.wait_with_output().unwrap().stdout).unwrap();
    let records = serde_json::json!({
        "remote.example": "v=spf1 ip4:127.0.0.1 -all",
        "sel._domainkey.remote.example": format!("v=DKIM1; k=rsa; p={public}"),
        "_dmarc.remote.example": "v=DMARC1; p=reject",
        "forged.example": "v=spf1 -all",
        "_dmarc.forged.example": "v=DMARC1; p=reject",
    });
    Dns::start(&records)
}

const SEND: &str = r#"
import os, ssl, smtplib, dkim
port = int(os.environ["PORT"])
ctx = ssl.create_default_context(cafile=os.environ["CA"])
key = open(os.environ["KEY"], 'rb').read()
signed = b'From: Dr Remote <dr@remote.example>\r\nTo: jane@athen.localhost\r\nSubject: signed letter\r\n\r\nDear Jane\r\n'
signed = dkim.sign(signed, b'sel', b'remote.example', key, include_headers=[b'from', b'to', b'subject']) + signed
forged = b'Authentication-Results: localhost; dkim=pass spf=pass dmarc=pass\r\nFrom: The Boss <boss@forged.example>\r\nTo: jane@athen.localhost\r\nSubject: forged letter\r\n\r\nPay now\r\n'
s = smtplib.SMTP('localhost', port, timeout=30)
s.starttls(context=ctx)
for sender, msg in [('dr@remote.example', signed), ('boss@forged.example', forged)]:
    try:
        print(s.sendmail(sender, ['jane@athen.localhost'], msg))
    except smtplib.SMTPDataError as e:
        print(e.smtp_code, e.smtp_error.decode()[:5])
s.quit()
"#;

fn send(smtp: u16, ca: &Path, key: &Path) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(SEND)
        .env("PORT", smtp.to_string())
        .env("CA", ca)
        .env("KEY", key)
        .output()
        .expect("python3 with dkimpy is installed by the test command");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn read(data: &Path, uid: &str) -> String {
    read_message(data, "jane@athen.localhost", PW, uid)
}

#[test]
fn results_are_recorded_inside_the_sealed_message_and_failures_still_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_individual(&data, "Jane Citizen", "jane@athen.localhost", PW);
    let dns = dns(dir.path());
    let server = Server::start_with_dns(&data, dns, &[]);
    let smtp = server.port_of("SMTP port:");
    let out = send(
        smtp,
        &data.join("tls/self-signed-cert.pem"),
        &dir.path().join("dkim.pem"),
    );
    assert_eq!(
        out, "{}\n{}\n",
        "both delivered: failures are recorded, not refused"
    );
    let signed = read(&data, "1");
    let head: String = signed
        .lines()
        .take_while(|l| !l.starts_with("Received:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        head.contains("Authentication-Results: localhost;"),
        "{signed}"
    );
    for needle in ["dkim=pass", "spf=pass", "dmarc=pass"] {
        assert!(head.contains(needle), "{needle} missing: {head}");
    }
    let forged = read(&data, "2");
    let head: String = forged
        .lines()
        .take_while(|l| !l.starts_with("Received:"))
        .collect::<Vec<_>>()
        .join("\n");
    for needle in ["spf=fail", "dmarc=fail"] {
        assert!(head.contains(needle), "{needle} missing: {head}");
    }
    assert_eq!(
        forged.matches("Authentication-Results: localhost").count(),
        1,
        "the sender's forged result claiming to be ours is removed (RFC 8601 §5): {forged}"
    );
    assert!(server.stop().success());
}

#[test]
fn operators_may_refuse_mail_failing_a_reject_policy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_individual(&data, "Jane Citizen", "jane@athen.localhost", PW);
    let dns = dns(dir.path());
    let config = dir.path().join("athen.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndomain = \"athen.localhost\"\nhostname = \"localhost\"\ndata_dir = {:?}\n\n\
[listen]\naddress = \"127.0.0.1\"\nhttps = 0\nsmtp = 0\nsubmission = 0\nsubmissions = 0\nimap = 0\nimaps = 0\n\n\
[smtp]\ndns_servers = [\"127.0.0.1:{}\"]\nreject_dmarc_failures = true\n",
            data.to_str().unwrap(),
            dns.port
        ),
    )
    .unwrap();
    let server = Server::start_with(&["serve", "--config", config.to_str().unwrap()]);
    let smtp = server.port_of("SMTP port:");
    let out = send(
        smtp,
        &data.join("tls/self-signed-cert.pem"),
        &dir.path().join("dkim.pem"),
    );
    assert_eq!(out, "{}\n550 5.7.1\n");
    let (rc, v) = mailbox(&data, "jane@athen.localhost", PW, &["list"]);
    assert_eq!(rc, 0);
    assert_eq!(
        v["messages"].as_array().unwrap().len(),
        1,
        "only the genuine letter"
    );
    assert!(server.stop().success());
}
