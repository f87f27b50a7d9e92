//! Mail submission (587 STARTTLS, 465 implicit TLS) with real clients:
//! Python's smtplib and swaks.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

const PW: &str = "correct horse battery";

struct Sub {
    _server: Server,
    submission: u16,
    submissions: u16,
    ca: std::path::PathBuf,
    data: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn setup() -> Sub {
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
    let server = Server::start(&data, &[]);
    Sub {
        submission: server.port_of("Submission port:"),
        submissions: server.port_of("Submissions port:"),
        _server: server,
        ca: data.join("tls/self-signed-cert.pem"),
        data,
        _dir: dir,
    }
}

fn messages(data: &Path, login: &str, folder: &str) -> Vec<serde_json::Value> {
    let (rc, v) = mailbox(data, login, PW, &["list", "--folder", folder]);
    assert_eq!(rc, 0, "{v}");
    v["messages"].as_array().unwrap().clone()
}

fn read(data: &Path, login: &str, uid: &str) -> String {
    read_message(data, login, PW, uid)
}

const PRELUDE: &str = r#"
import os, ssl, smtplib, base64
port = int(os.environ["PORT"])
ctx = ssl.create_default_context(cafile=os.environ["CA"])
PW = "correct horse battery"
"#;

#[test]
fn log_in_after_tls_and_send_only_as_yourself() {
    let s = setup();
    let out = python(s.submission, &s.ca, &format!("{PRELUDE}
c = smtplib.SMTP('localhost', port, timeout=10)
code, text = c.ehlo()
print('AUTH before TLS:', b'AUTH' in text)
print(c.docmd('AUTH', 'PLAIN ' + base64.b64encode(b'\\0jane@athen.localhost\\0' + PW.encode()).decode())[0])
c.starttls(context=ctx)
code, text = c.ehlo()
print('AUTH after TLS:', b'AUTH PLAIN LOGIN' in text)
print(c.docmd('MAIL', 'FROM:<jane@athen.localhost>')[0])
try:
    c.login('jane@athen.localhost', 'wrong password')
except smtplib.SMTPAuthenticationError as e:
    print('wrong:', e.smtp_code)
print(c.login('jane@athen.localhost', PW)[0])
print(c.docmd('MAIL', 'FROM:<boss@athen.localhost>')[0])
c.rset()
msg = 'From: Jane Citizen <jane@athen.localhost>\\r\\nTo: reception@northside.example\\r\\nSubject: Referral for John\\r\\n\\r\\nDear colleague\\r\\n'
print('refused:', c.sendmail('jane@athen.localhost', ['reception@northside.example'], msg))
# Not confirmed yet: only this server's mailboxes (issue 20).
try:
    c.sendmail('jane@athen.localhost', ['someone@elsewhere.example'], msg)
except smtplib.SMTPDataError as e:
    print('unconfirmed remote:', e.smtp_code, e.smtp_error.decode()[:5])
import subprocess
subprocess.run([{BIN:?}, 'admin', '--data-dir', {data:?}, 'account', 'confirm', 'jane@athen.localhost'], check=True, capture_output=True)
print('remote:', c.sendmail('jane@athen.localhost', ['someone@elsewhere.example'], msg))
forged = 'From: The Boss <boss@athen.localhost>\\r\\nSubject: forged\\r\\n\\r\\nx\\r\\n'
try:
    c.sendmail('jane@athen.localhost', ['reception@northside.example'], forged)
except smtplib.SMTPDataError as e:
    print('forged:', e.smtp_code, e.smtp_error.decode()[:5])
c.quit()
", data = s.data.to_str().unwrap()));
    assert_eq!(
        out,
        "AUTH before TLS: False\n538\nAUTH after TLS: True\n530\nwrong: 535\n235\n553\nrefused: {}\n\
unconfirmed remote: 550 5.7.1\nremote: {}\nforged: 550 5.7.1\n"
    );
    let inbox = messages(&s.data, "reception@northside.example", "Inbox");
    assert_eq!(inbox.len(), 1, "only the genuine message arrived");
    let raw = read(&s.data, "reception@northside.example", "1");
    for needle in [
        "Return-Path: <jane@athen.localhost>\r\n",
        "Disposition-Notification-To: <jane@athen.localhost>\r\n",
        "Message-ID: <",
        "Date: ",
        "with ESMTPSA",
        "Subject: Referral for John\r\n",
        // Sent while Jane's account was not confirmed.
        "X-Athen-Sender-Status: unconfirmed\r\n",
    ] {
        assert!(raw.contains(needle), "{needle} missing from {raw}");
    }
    // localserve keeps mail for other servers in its catch-all, DKIM-signed.
    let kept = wait_for_catch_all(&s.data);
    assert!(
        kept.starts_with("DKIM-Signature: v=1; a=rsa-sha256;"),
        "{kept}"
    );
    assert!(kept.contains("To: reception@northside.example"), "{kept}");
    let sent = messages(&s.data, "jane@athen.localhost", "Sent");
    assert_eq!(sent.len(), 2, "both submitted messages");
    assert_eq!(sent[0]["subject"], "Referral for John");
    assert_eq!(
        sent[0]["message_id"], inbox[0]["message_id"],
        "the Sent copy is the same message"
    );
}

#[test]
fn implicit_tls_login_with_an_app_token_and_auth_login() {
    let s = setup();
    let token = admin_ok(
        &s.data,
        &[
            "token",
            "issue",
            "jane@athen.localhost",
            "--label",
            "Thunderbird",
            "--password-stdin",
        ],
        &format!("{PW}\n"),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let out = python(s.submissions, &s.ca, &format!("{PRELUDE}
c = smtplib.SMTP_SSL('localhost', port, context=ctx, timeout=10)
c.ehlo()
c.esmtp_features['auth'] = 'LOGIN'
print(c.login('jane@athen.localhost', {token:?})[0])
print(c.sendmail('jane@athen.localhost', ['reception@northside.example'], 'Subject: via 465\\r\\n\\r\\nhello\\r\\n'))
c.quit()
"));
    assert_eq!(out, "235\n{}\n");
    let inbox = messages(&s.data, "reception@northside.example", "Inbox");
    assert_eq!(inbox[0]["subject"], "via 465");
    assert_eq!(
        inbox[0]["from"][0], "jane@athen.localhost",
        "From: was added"
    );
}

#[test]
fn swaks_submits_with_auth_plain() {
    let s = setup();
    let out = Command::new("swaks")
        .args([
            "--to",
            "reception@northside.example",
            "--from",
            "jane@athen.localhost",
            "--server",
            "127.0.0.1",
            "--port",
        ])
        .arg(s.submission.to_string())
        .args([
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "jane@athen.localhost",
            "--auth-password",
            PW,
        ])
        .args([
            "--header",
            "Subject: swaks submission",
            "--header",
            "From: jane@athen.localhost",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("235 2.7.0"), "{text}");
    assert_eq!(
        messages(&s.data, "reception@northside.example", "Inbox")[0]["subject"],
        "swaks submission"
    );
}

#[test]
fn repeated_wrong_passwords_are_throttled() {
    let s = setup();
    let out = python(
        s.submission,
        &s.ca,
        &format!(
            "{PRELUDE}
codes = []
for i in range(11):
    c = smtplib.SMTP('localhost', port, timeout=10)
    c.starttls(context=ctx)
    c.ehlo()
    # One mechanism only: smtplib would otherwise try PLAIN and then LOGIN.
    c.esmtp_features['auth'] = 'PLAIN'
    try:
        c.login('jane@athen.localhost', 'guess %d' % i)
    except smtplib.SMTPAuthenticationError as e:
        codes.append(e.smtp_code)
    c.close()
c = smtplib.SMTP('localhost', port, timeout=10)
c.starttls(context=ctx)
c.ehlo()
c.esmtp_features['auth'] = 'PLAIN'
try:
    c.login('jane@athen.localhost', PW)
    codes.append(235)
except smtplib.SMTPAuthenticationError as e:
    codes.append(e.smtp_code)
print(codes)
"
        ),
    );
    assert_eq!(
        out,
        "[535, 535, 535, 535, 535, 535, 535, 535, 535, 535, 454, 454]\n"
    );
}

/// The one message in localserve's catch-all, once the queue has put it there.
fn wait_for_catch_all(data: &std::path::Path) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(dir) = std::fs::read_dir(data.join("catch-all")) {
            let files: Vec<_> = dir.filter_map(|e| e.ok()).collect();
            if let [one] = files.as_slice() {
                return std::fs::read_to_string(one.path()).unwrap();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing in the catch-all"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Issue 20, finding 5: each letter asks again whether the login may
/// still send. A token revoked and an account suspended on the command
/// line (another process) stop the open connections at their next MAIL
/// FROM; a token made only for the downloader does not log in here.
#[test]
fn a_revoked_token_or_a_suspended_account_stops_sending_at_the_next_letter() {
    let s = setup();
    let issue = |doors: &str| {
        admin_ok(
            &s.data,
            &[
                "token",
                "issue",
                "reception@northside.example",
                "--label",
                "Outlook",
                "--for",
                doors,
                "--password-stdin",
            ],
            &format!("{PW}\n"),
        )
    };
    let smtp = issue("smtp,imap");
    let fetch = issue("downloader");
    let out = python(
        s.submission,
        &s.ca,
        &format!(
            "{PRELUDE}
import subprocess
def admin(*args):
    subprocess.run([{BIN:?}, 'admin', '--data-dir', {data:?}] + list(args), check=True, capture_output=True)
def send(c, frm):
    try:
        c.sendmail(frm, ['jane@athen.localhost'], 'From: <%s>\\r\\nSubject: hi\\r\\n\\r\\nx\\r\\n' % frm)
        return 250
    except smtplib.SMTPSenderRefused as e:
        return e.smtp_code
def connect():
    c = smtplib.SMTP('localhost', port, timeout=10)
    c.starttls(context=ctx)
    return c
try:
    connect().login('reception@northside.example', {fetch_token:?})
    print('downloader token', 235)
except smtplib.SMTPAuthenticationError as e:
    print('downloader token', e.smtp_code)
a = connect()
a.login('reception@northside.example', {smtp_token:?})
b = connect()
b.login('jane@athen.localhost', PW)
print(send(a, 'reception@northside.example'), send(b, 'jane@athen.localhost'))
admin('token', 'revoke', 'reception@northside.example', '{smtp_id}')
admin('account', 'suspend', 'jane@athen.localhost', '--reason', 'test')
print(send(a, 'reception@northside.example'), send(b, 'jane@athen.localhost'))
",
            data = s.data.to_str().unwrap(),
            fetch_token = fetch["token"].as_str().unwrap(),
            smtp_token = smtp["token"].as_str().unwrap(),
            smtp_id = smtp["id"],
        ),
    );
    assert_eq!(out, "downloader token 535\n250 250\n535 535\n");
}
