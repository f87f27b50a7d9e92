//! A real bounce: Debian's Postfix, on loopback, as the other practice's
//! server. It accepts Jane's letter for a user it does not have, its local
//! delivery agent fails it, and its bounce daemon sends the delivery
//! status notification back to ATHEN over SMTP with STARTTLS. Jane's
//! trail shows the letter as failed with Postfix's diagnostic, and the
//! report is in her Inbox so she can act on it.
//!
//! Postfix runs as a second instance with its own configuration and queue
//! directory in the test's temporary folder (`postfix -c`); the test
//! command installs the `postfix` package. Needs root, as Postfix's master
//! does (CI and `scripts/test` run as root).

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn postfix(conf: &Path, action: &str) -> std::process::Output {
    Command::new("postfix")
        .arg("-c")
        .arg(conf)
        .arg(action)
        .output()
        .expect("Postfix is installed by the test command (scripts/test)")
}

/// A Postfix instance; stopped when dropped.
struct Postfix {
    conf: std::path::PathBuf,
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = postfix(&self.conf, "stop");
    }
}

/// Writes and starts a Postfix instance in `dir` listening on `port`, final
/// destination for postfix.test (every recipient accepted, as a site
/// without `local_recipient_maps` does), sending mail for athen.localhost
/// to ATHEN's MX on `athen_mx` with TLS required.
fn start_postfix(dir: &Path, port: u16, athen_mx: u16) -> Postfix {
    use std::os::unix::fs::PermissionsExt;
    let conf = dir.join("conf");
    for d in ["conf", "queue", "data"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    // Postfix's daemons run as the postfix user: they must reach the
    // queue (the temporary folders are private to root otherwise), and
    // own their data directory.
    for d in [dir.parent().unwrap(), dir] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert!(
        Command::new("chown")
            .arg("postfix")
            .arg(dir.join("data"))
            .status()
            .unwrap()
            .success()
    );
    let (cert, key) = self_signed(&conf, "smtpd", "mx.postfix.test");
    let d = |p: &str| dir.join(p).to_str().unwrap().to_string();
    std::fs::write(
        conf.join("main.cf"),
        format!(
            "compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
maillog_file = {log}
maillog_file_prefixes = {dir}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.postfix.test
mydomain = postfix.test
myorigin = postfix.test
mydestination = postfix.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
smtputf8_enable = no
biff = no
smtp_dns_support_level = disabled
transport_maps = texthash:{transport}
smtp_tls_security_level = encrypt
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
",
            queue = d("queue"),
            data = d("data"),
            log = d("maillog"),
            transport = conf.join("transport").display(),
            dir = dir.display(),
            cert = cert.display(),
            key = key.display(),
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("transport"),
        format!("athen.localhost smtp:[127.0.0.1]:{athen_mx}\n"),
    )
    .unwrap();
    // Every service unchrooted (the queue is not set up as a chroot).
    std::fs::write(
        conf.join("master.cf"),
        format!(
            "127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"
        ),
    )
    .unwrap();
    let out = postfix(&conf, "start");
    assert!(
        out.status.success(),
        "postfix start failed: {}{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join("maillog")).unwrap_or_default()
    );
    let pf = Postfix { conf };
    wait_for("Postfix to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    pf
}

#[test]
fn a_letter_bounced_by_postfix_is_failed_with_its_diagnostic() {
    const PW: &str = JANE_PW;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_individual(&data, "Jane Citizen", "jane@athen.localhost", PW);
    confirm(&data, "jane@athen.localhost");
    let pf_port = free_port();
    let dns = Dns::empty();
    let cfg = server_config(
        dir.path(),
        &data,
        "athen.localhost",
        &dns,
        &format!("\"postfix.test\" = \"127.0.0.1:{pf_port}\""),
        "",
    );
    let server = Server::start_with(&["serve", "--config", cfg.to_str().unwrap()]);
    let _postfix = start_postfix(
        &dir.path().join("postfix"),
        pf_port,
        server.port_of("SMTP port:"),
    );

    let ca = data.join("tls/self-signed-cert.pem");
    let sent = python(
        server.port_of("Submission port:"),
        &ca,
        &format!(
            "import os, ssl, smtplib
ctx = ssl.create_default_context(cafile=os.environ['CA'])
c = smtplib.SMTP('localhost', int(os.environ['PORT']), timeout=30)
c.starttls(context=ctx)
c.login('jane@athen.localhost', {PW:?})
print(c.sendmail('jane@athen.localhost', ['no.such.user@postfix.test'],
    'From: Jane Citizen <jane@athen.localhost>\\r\\nTo: no.such.user@postfix.test\\r\\n'
    'Subject: Referral QZPOSTFIX\\r\\nMessage-ID: <qzpostfix@athen.localhost>\\r\\n\\r\\nDear colleague\\r\\n',
    mail_options=['RET=HDRS'], rcpt_options=['NOTIFY=FAILURE']))
c.quit()
"
        ),
    );
    assert_eq!(sent, "{}\n", "Postfix took the letter: nothing refused");

    // Postfix relays nothing back until local(8) has failed the letter;
    // then its bounce arrives in Jane's spool and, when she opens her
    // mailbox, goes into her trail.
    let maillog = dir.path().join("postfix/maillog");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let failed = loop {
        let (rc, v) = mailbox(
            &data,
            "jane@athen.localhost",
            PW,
            &["audit", "--message-id", "qzpostfix@athen.localhost"],
        );
        assert_eq!(rc, 0, "{v}");
        if let Some(e) = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "failed")
        {
            break e.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no bounce in Jane's trail: {v}\nPostfix's log:\n{}",
            std::fs::read_to_string(&maillog).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    assert_eq!(
        failed["correspondent"], "no.such.user@postfix.test",
        "{failed}"
    );
    let detail = failed["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("5.1.1 ") && detail.contains("unknown user: \"no.such.user\""),
        "Postfix's diagnostic: {failed}"
    );
    let (rc, v) = mailbox(
        &data,
        "jane@athen.localhost",
        PW,
        &["audit", "--message-id", "qzpostfix@athen.localhost"],
    );
    assert_eq!(rc, 0);
    let kinds: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["submitted", "queued", "relayed", "failed"], "{v}");
    // The report is shown, so Jane can act on it.
    let (_, inbox) = mailbox(&data, "jane@athen.localhost", PW, &["list"]);
    let from: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["from"][0].as_str().unwrap())
        .collect();
    assert_eq!(from.len(), 1, "{inbox}");
    assert!(from[0].contains("MAILER-DAEMON@postfix.test"), "{inbox}");
    assert!(server.stop().success());
}
