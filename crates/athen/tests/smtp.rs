//! The MX listener with real SMTP clients: Python's smtplib and raw ssl
//! sockets, swaks, and `openssl s_client -starttls smtp`.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

const PW: &str = "correct horse battery";

struct Mx {
    server: Server,
    smtp: u16,
    ca: std::path::PathBuf,
    data: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// A server with Jane (individual, provisional), Northside (organisation,
/// confirmed) and Sam (suspended).
fn mx() -> Mx {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_individual(&data, "Jane Citizen", "jane@athen.localhost", PW);
    create_organisation(
        &data,
        "Northside Medical",
        "reception@northside.example",
        PW,
        &[],
    );
    admin_ok(
        &data,
        &["account", "confirm", "reception@northside.example"],
        "",
    );
    create_individual(&data, "Sam Suspended", "sam@athen.localhost", PW);
    admin_ok(&data, &["account", "suspend", "sam@athen.localhost"], "");
    let server = Server::start(&data, &[]);
    let smtp = server.port_of("SMTP port:");
    Mx {
        server,
        smtp,
        ca: data.join("tls/self-signed-cert.pem"),
        data,
        _dir: dir,
    }
}

fn inbox(data: &Path, login: &str) -> Vec<serde_json::Value> {
    let (rc, v) = mailbox(data, login, PW, &["list"]);
    assert_eq!(rc, 0, "{v}");
    v["messages"].as_array().unwrap().clone()
}

fn read(data: &Path, login: &str, uid: &str) -> String {
    read_message(data, login, PW, uid)
}

const SMTP_PRELUDE: &str = r#"
import os, ssl, smtplib, socket
port = int(os.environ["PORT"])
ctx = ssl.create_default_context(cafile=os.environ["CA"])
"#;

#[test]
fn tls_is_compulsory_and_mail_is_sealed_for_local_accounts_only() {
    let m = mx();
    let out = python(m.smtp, &m.ca, &format!("{SMTP_PRELUDE}
s = smtplib.SMTP('localhost', port, timeout=10)
code, text = s.ehlo()
caps = text.decode().split('\\n')[1:]
print(code, sorted(c.split()[0] for c in caps))
try:
    s.sendmail('dr@remote.example', ['jane@athen.localhost'], 'Subject: plain\\r\\n\\r\\nno\\r\\n')
except smtplib.SMTPSenderRefused as e:
    print('plain:', e.smtp_code, e.smtp_error.decode()[:5])
s.starttls(context=ctx)
code, text = s.ehlo()
print('after tls has STARTTLS:', b'STARTTLS' in text)
body = 'From: Dr Remote <dr@remote.example>\\r\\nSubject: Referral ZQXSMTP\\r\\n\\r\\n.leading dot\\r\\nZQXSMTPBODY\\r\\n'
print('refused:', s.sendmail('dr@remote.example', ['jane@athen.localhost', 'reception@northside.example'], body))
for rcpt in ['nobody@athen.localhost', 'someone@elsewhere.example', 'sam@athen.localhost']:
    try:
        s.sendmail('dr@remote.example', [rcpt], body)
    except smtplib.SMTPRecipientsRefused as e:
        code, msg = e.recipients[rcpt]
        print(rcpt, code, msg.decode()[:5])
print(s.vrfy('jane@athen.localhost')[0])
s.quit()
"));
    assert_eq!(
        out,
        "250 ['8BITMIME', 'CHUNKING', 'ENHANCEDSTATUSCODES', 'PIPELINING', 'SIZE', 'SMTPUTF8', 'STARTTLS']\n\
plain: 530 5.7.0\n\
after tls has STARTTLS: False\n\
refused: {}\n\
nobody@athen.localhost 550 5.1.1\n\
someone@elsewhere.example 550 5.7.1\n\
sam@athen.localhost 550 5.1.1\n\
252\n"
    );
    for login in ["jane@athen.localhost", "reception@northside.example"] {
        let list = inbox(&m.data, login);
        assert_eq!(list.len(), 1, "{login}");
        assert_eq!(list[0]["subject"], "Referral ZQXSMTP");
        let raw = read(&m.data, login, "1");
        assert!(
            raw.starts_with(
                "Return-Path: <dr@remote.example>\r\nAuthentication-Results: localhost;\r\n\tspf=none "
            ),
            "{raw}"
        );
        assert!(raw.contains("\r\n\tdmarc=none "), "{raw}");
        assert!(
            raw.contains(" (127.0.0.1) by localhost with ESMTPS; "),
            "{raw}"
        );
        assert!(
            raw.contains("\r\n.leading dot\r\nZQXSMTPBODY\r\n"),
            "dot-stuffing undone: {raw}"
        );
    }
    let show = admin_ok(&m.data, &["account", "show", "sam@athen.localhost"], "");
    assert_eq!(
        show["mailbox"]["spooled"], 0,
        "nothing reached the suspended account"
    );
    drop(m.server);
}

#[test]
fn pipelined_commands_are_answered_in_order_and_starttls_discards_injected_commands() {
    let m = mx();
    let out = python(m.smtp, &m.ca, &format!("{SMTP_PRELUDE}
raw = socket.create_connection(('127.0.0.1', port), timeout=10)
f = raw.makefile('rb')
def replies(f, n):
    out = []
    while len(out) < n:
        line = f.readline().decode()
        assert line[:3].isdigit() and line[3] in ' -' and line.endswith('\\r\\n'), repr(line)
        if line[3] == ' ':
            out.append(line[:3])
    return out
print(replies(f, 1))
raw.sendall(b'EHLO client.example\\r\\n')
print(replies(f, 1))
# RFC 3207 section 5: a command sent along with STARTTLS must be thrown away.
raw.sendall(b'STARTTLS\\r\\nMAIL FROM:<injected@evil.example>\\r\\n')
print(replies(f, 1))
tls = ctx.wrap_socket(raw, server_hostname='localhost')
g = tls.makefile('rb')
tls.sendall(b'MAIL FROM:<dr@remote.example>\\r\\n')
print('mail before ehlo:', replies(g, 1))
tls.sendall(b'EHLO client.example\\r\\nMAIL FROM:<dr@remote.example>\\r\\nRCPT TO:<jane@athen.localhost>\\r\\nRCPT TO:<nobody@athen.localhost>\\r\\nDATA\\r\\n')
print(replies(g, 5))
tls.sendall(b'Subject: pipelined\\r\\n\\r\\nbody\\r\\n.\\r\\n')
print(replies(g, 1))
# CHUNKING (RFC 3030): a chunk before MAIL is read and refused; then a
# two-chunk message, all pipelined with QUIT.
first = b'Subject: chunked\\r\\n\\r\\n'
second = b'in two chunks\\r\\n'
tls.sendall(b'BDAT 5\\r\\nxxxxxMAIL FROM:<dr@remote.example>\\r\\nRCPT TO:<jane@athen.localhost>\\r\\n'
            + b'BDAT %d\\r\\n' % len(first) + first + b'BDAT %d LAST\\r\\n' % len(second) + second + b'QUIT\\r\\n')
print(replies(g, 6))
"));
    assert_eq!(
        out,
        "['220']\n['250']\n['220']\nmail before ehlo: ['503']\n['250', '250', '250', '550', '354']\n['250']\n\
['503', '250', '250', '250', '250', '221']\n"
    );
    let list = inbox(&m.data, "jane@athen.localhost");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["subject"], "pipelined");
    assert_eq!(list[1]["subject"], "chunked");
    let raw = read(&m.data, "jane@athen.localhost", "2");
    assert!(
        raw.ends_with("Subject: chunked\r\n\r\nin two chunks\r\n"),
        "{raw}"
    );
}

#[test]
fn swaks_delivers_only_with_tls() {
    let m = mx();
    let port = m.smtp.to_string();
    let base = [
        "--to",
        "jane@athen.localhost",
        "--from",
        "dr@remote.example",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
    ];
    let plain = Command::new("swaks")
        .args(base)
        .args(["--header", "Subject: no tls"])
        .output()
        .expect("swaks is installed by the test command");
    assert!(!plain.status.success());
    assert!(String::from_utf8_lossy(&plain.stdout).contains("530 5.7.0"));
    let tls = Command::new("swaks")
        .args(base)
        .args([
            "--tls",
            "--header",
            "Subject: from swaks",
            "--body",
            "Hello from swaks",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&tls.stdout);
    assert!(tls.status.success(), "{text}");
    assert!(text.contains("250 2.0.0 OK"), "{text}");
    let list = inbox(&m.data, "jane@athen.localhost");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["subject"], "from swaks");
}

#[test]
fn openssl_starttls_negotiates_tls13_and_verifies() {
    let m = mx();
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            &format!("127.0.0.1:{}", m.smtp),
            "-servername",
            "localhost",
            "-CAfile",
        ])
        .arg(&m.ca)
        .args(["-verify_return_error", "-brief"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("TLSv1.3"), "{text}");
    assert!(text.contains("Verification: OK"), "{text}");
}

#[test]
fn limits_size_errors_and_connections() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_individual(&data, "Jane Citizen", "jane@athen.localhost", PW);
    let dns = Dns::empty();
    let config = dir.path().join("athen.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndomain = \"athen.localhost\"\nhostname = \"localhost\"\ndata_dir = {:?}\n\n\
[listen]\naddress = \"127.0.0.1\"\nhttps = 0\nsmtp = 0\nsubmission = 0\nsubmissions = 0\nimap = 0\nimaps = 0\n\n\
[limits]\nmax_message_bytes = 2048\nsmtp_connections_per_minute_per_address = 40\n\n\
[smtp]\ndns_servers = [{:?}]\n",
            data.to_str().unwrap(),
            dns.address()
        ),
    )
    .unwrap();
    let server = Server::start_with(&["serve", "--config", config.to_str().unwrap()]);
    let smtp = server.port_of("SMTP port:");
    let ca = data.join("tls/self-signed-cert.pem");
    let out = python(smtp, &ca, &format!("{SMTP_PRELUDE}
s = smtplib.SMTP('localhost', port, timeout=10)
s.starttls(context=ctx)
s.ehlo()
# A declared size over the limit is refused at MAIL (RFC 1870)…
print(s.mail('dr@remote.example', ['SIZE=999999'])[0])
s.rset()
# …and an undeclared one after the data.
s.mail('dr@remote.example')
s.rcpt('jane@athen.localhost')
code, text = s.data('Subject: big\\r\\n\\r\\n' + 'x' * 5000 + '\\r\\n')
print(code, text.decode()[:5])
# …and an oversized BDAT chunk, read and refused.
s.mail('dr@remote.example')
s.rcpt('jane@athen.localhost')
s.putcmd('BDAT 3000 LAST')
s.send(b'y' * 3000)
print(s.getreply()[0])
print(s.sendmail('dr@remote.example', ['jane@athen.localhost'], 'Subject: small\\r\\n\\r\\nfits\\r\\n'))
s.quit()
# Twenty bad commands close the connection (Postfix's smtpd_hard_error_limit).
s = smtplib.SMTP('localhost', port, timeout=10)
codes = [s.docmd('BOGUS')[0] for _ in range(20)]
print(codes[-1], s.getreply()[0])
s.close()
# Let the server finish the closed sessions before counting open ones.
import time
time.sleep(0.5)
# At most 20 open connections from one address…
conns = [socket.create_connection(('127.0.0.1', port)) for _ in range(21)]
print([c.makefile('rb').readline()[:3].decode() for c in conns][-2:])
for c in conns:
    c.close()
# …and at most 40 new ones a minute (this test has opened 23 so far).
codes = []
for _ in range(18):
    c = socket.create_connection(('127.0.0.1', port))
    codes.append(c.makefile('rb').readline()[:3].decode())
    c.close()
print(codes[-2:])
"));
    assert_eq!(
        out,
        "552\n552 5.3.4\n552\n{}\n500 421\n['220', '421']\n['220', '421']\n"
    );
    let list = inbox(&data, "jane@athen.localhost");
    assert_eq!(list.len(), 1, "only the message that fits: {list:?}");
    assert!(server.stop().success());
}

/// Issue 20, finding 4: who a letter is from is said once. Two From:,
/// Sender: or Return-Path: fields are refused on the MX and on
/// submission; a From: in two domains (which DMARC cannot check) on the
/// MX; a Return-Path the sender wrote is replaced by the envelope's; and a
/// session guessing addresses ends after 20 unknown recipients.
#[test]
fn one_sender_said_once_and_guessing_sessions_end() {
    let m = mx();
    let sub = m.server.port_of("Submission port:");
    let out = python(m.smtp, &m.ca, &format!("{SMTP_PRELUDE}
sub = {sub}
def send(s, frm, body):
    try:
        s.sendmail(frm, ['reception@northside.example'], body)
        return 250
    except smtplib.SMTPDataError as e:
        return '%d %s' % (e.smtp_code, e.smtp_error.decode()[:5])
s = smtplib.SMTP('localhost', port, timeout=10)
s.starttls(context=ctx)
print(send(s, 'dr@remote.example', 'From: <dr@remote.example>\\r\\nFrom: <ceo@bank.example>\\r\\nSubject: two\\r\\n\\r\\nx\\r\\n'))
print(send(s, 'dr@remote.example', 'From: <dr@remote.example>\\r\\nSender: <a@remote.example>\\r\\nsender: <b@remote.example>\\r\\n\\r\\nx\\r\\n'))
print(send(s, 'dr@remote.example', 'Return-Path: <a@remote.example>\\r\\nReturn-Path: <b@remote.example>\\r\\n\\r\\nx\\r\\n'))
print(send(s, 'dr@remote.example', 'From: <dr@remote.example>, <ceo@bank.example>\\r\\n\\r\\nx\\r\\n'))
print(send(s, 'dr@remote.example', 'Return-Path: <someone@else.example>\\r\\nFrom: <dr@remote.example>\\r\\nSubject: Return path ZQXRP\\r\\n\\r\\nx\\r\\n'))
s.quit()
# Unknown recipients: the 20th error ends the session.
s = smtplib.SMTP('localhost', port, timeout=10)
s.starttls(context=ctx)
s.ehlo()
s.mail('dr@remote.example')
codes = [s.rcpt('nobody%d@athen.localhost' % i)[0] for i in range(20)]
print(codes[-1], s.getreply()[0])
s.close()
# Submission: the same rule for our own users.
s = smtplib.SMTP('localhost', sub, timeout=10)
s.starttls(context=ctx)
s.login('reception@northside.example', {PW:?})
print(send(s, 'reception@northside.example', 'From: <reception@northside.example>\\r\\nFrom: <jane@athen.localhost>\\r\\n\\r\\nx\\r\\n'))
s.quit()
"));
    assert_eq!(
        out,
        "550 5.6.0\n550 5.6.0\n550 5.6.0\n550 5.7.1\n250\n550 421\n550 5.6.0\n"
    );
    let list = inbox(&m.data, "reception@northside.example");
    assert_eq!(list.len(), 1, "{list:?}");
    let raw = read(&m.data, "reception@northside.example", "1");
    assert!(
        raw.starts_with("Return-Path: <dr@remote.example>\r\n"),
        "{raw}"
    );
    assert!(!raw.contains("someone@else.example"), "{raw}");
    drop(m.server);
}
