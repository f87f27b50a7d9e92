//! The audit trail through the real server: a letter sent with Python's
//! smtplib is followed in the sender's trail (submitted, delivered here,
//! queued and relayed for another server) and the recipient's (received);
//! `athen admin audit verify` checks the chains without keys, and a trail
//! changed or rewritten in the database is caught.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";

fn audit(data: &Path, login: &str, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    mailbox(data, login, PW, &all)
}

fn kinds(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["correspondent"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

/// Runs a Python snippet against the data directory's database.
fn sql(data: &Path, code: &str) {
    python_script(
        &format!(
            "import sqlite3, hashlib, struct, sys\ndb = sqlite3.connect(sys.argv[1])\n{code}\ndb.commit()"
        ),
        &[data.join("athen.db").to_str().unwrap()],
    );
}

#[test]
fn a_letter_is_followed_in_both_trails_and_tampering_is_caught() {
    let p = TwoPractices::start(|data| confirm(data, "jane@athen.localhost"));
    let data = p.data.clone();
    p.jane_sends(
        "
msg = 'From: Jane Citizen <jane@athen.localhost>\\r\\nTo: reception@northside.example, gp@elsewhere.example\\r\\nSubject: Referral\\r\\n\\r\\nDear colleague\\r\\n'
c.sendmail('jane@athen.localhost', ['reception@northside.example', 'gp@elsewhere.example'], msg)
",
    );

    // The relay result for the other server (localserve's catch-all)
    // arrives while Jane may be logged out: it waits sealed, and joins
    // her trail when she next opens her mailbox.
    let deadline = Instant::now() + Duration::from_secs(30);
    let jane = loop {
        let (rc, v) = audit(&data, "jane@athen.localhost", &[]);
        assert_eq!(rc, 0, "{v}");
        if kinds(&v).iter().any(|k| k.starts_with("relayed")) {
            break v;
        }
        assert!(Instant::now() < deadline, "no relay result: {v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        kinds(&jane),
        [
            "submitted -",
            "delivered reception@northside.example",
            "queued gp@elsewhere.example",
            "relayed gp@elsewhere.example"
        ]
    );
    let events = jane["events"].as_array().unwrap();
    assert_eq!(events[0]["detail"], "to 2 recipients");
    assert!(
        events[3]["detail"].as_str().unwrap().contains("catch-all")
            || events[3]["detail"].as_str().unwrap().contains("250"),
        "{}",
        events[3]
    );
    assert!(
        events[3]["message_id"].is_null(),
        "relay results know the envelope id only"
    );
    assert_eq!(events[3]["envid"], events[0]["envid"]);

    // One message's timeline, by its UID in Sent: every event above.
    let (rc, one) = audit(&data, "jane@athen.localhost", &["1", "--folder", "Sent"]);
    assert_eq!(rc, 0, "{one}");
    assert_eq!(kinds(&one).len(), 4, "{one}");

    let (rc, reception) = audit(&data, "reception@northside.example", &[]);
    assert_eq!(rc, 0, "{reception}");
    assert_eq!(
        kinds(&reception),
        ["received Jane Citizen <jane@athen.localhost>"]
    );
    assert_eq!(
        reception["events"][0]["message_id"], jane["events"][0]["message_id"],
        "both trails name the same message"
    );

    let v = admin_ok(&data, &["audit", "verify"], "");
    let trails = v["trails"].as_array().unwrap();
    assert_eq!(trails.len(), 2, "{v}");
    assert!(trails.iter().all(|t| t["intact"] == true), "{v}");
    let jane_trail = trails
        .iter()
        .find(|t| t["account"] == "jane@athen.localhost")
        .unwrap();
    assert_eq!(jane_trail["entries"], 4);

    // Changed in place: the keyless check finds the entry.
    let mailbox_id = jane_trail["mailbox"].as_i64().unwrap();
    sql(
        &data,
        &format!(
            "db.execute('UPDATE audit_entries SET at = at + 60 WHERE mailbox_id = {mailbox_id} AND seq = 2')"
        ),
    );
    let (rc, v) = admin(&data, &["audit", "verify"], "");
    assert_eq!(rc, 1, "{v}");
    let message = v["error"].as_str().unwrap_or_default().to_string() + &v.to_string();
    assert!(message.contains("BROKEN at entry 2"), "{v}");
    let (rc, v) = audit(&data, "jane@athen.localhost", &[]);
    assert_eq!(rc, 1, "{v}");

    // Rewritten whole, links recomputed (as someone with the database but
    // without Jane's key could): the keyless check is satisfied, but the
    // entries no longer decrypt in their places, so Jane's view says so.
    sql(
        &data,
        &format!(
            "
rows = db.execute('SELECT seq, at, sealed FROM audit_entries WHERE mailbox_id = {mailbox_id} ORDER BY seq').fetchall()
db.execute('DELETE FROM audit_entries WHERE mailbox_id = {mailbox_id}')
prev = bytes(32)
for seq, (_, at, sealed) in enumerate([r for r in rows if r[0] != 3], start=1):
    h = hashlib.sha256(b'athen-audit-v1\\0' + prev + struct.pack('>Q', seq) + struct.pack('>q', at) + struct.pack('>Q', len(sealed)) + sealed).digest()
    db.execute('INSERT INTO audit_entries (mailbox_id, seq, at, sealed, hash) VALUES (?, ?, ?, ?, ?)', ({mailbox_id}, seq, at, sealed, h))
    prev = h
"
        ),
    );
    let v = admin_ok(
        &data,
        &["audit", "verify", "--address", "jane@athen.localhost"],
        "",
    );
    assert_eq!(v["trails"][0]["intact"], true, "{v}");
    let (rc, v) = audit(&data, "jane@athen.localhost", &[]);
    assert_eq!(rc, 1, "{v}");
    assert!(
        v.to_string().contains("does not belong in its place"),
        "{v}"
    );
    drop(p);
}

/// Receipts coming back over the MX: a Thunderbird-style read receipt and
/// a Postfix-style bounce for Jane's letter go into her trail (the bounce,
/// a failure, also into her inbox); a receipt about nothing she sent is
/// ordinary mail.
#[test]
fn receipts_for_sent_mail_go_into_the_trail() {
    let p = TwoPractices::start(|_| {});
    let data = p.data.clone();
    p.jane_sends(
        "
c.sendmail('jane@athen.localhost', ['reception@northside.example'], 'Subject: Referral\\r\\n\\r\\nDear colleague\\r\\n')
",
    );
    let (rc, v) = audit(&data, "jane@athen.localhost", &[]);
    assert_eq!(rc, 0, "{v}");
    let message_id = v["events"][0]["message_id"].as_str().unwrap().to_string();
    let envid = v["events"][0]["envid"].as_str().unwrap().to_string();

    let mdn = |original: &str| {
        format!(
            "From: Dr Anna Jones <anna@southside.example>\r\nTo: jane@athen.localhost\r\n\
Subject: Read: Referral\r\nMessage-ID: <mdn-{original}>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=disposition-notification; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nThe message was displayed.\r\n\r\n\
--b1\r\nContent-Type: message/disposition-notification; name=\"MDNPart2.txt\"\r\n\r\n\
Reporting-UA: southside.example; Thunderbird 128.5.0\r\nFinal-Recipient: rfc822;anna@southside.example\r\n\
Original-Message-ID: <{original}>\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n\r\n--b1--\r\n"
        )
    };
    let bounce = format!(
        "From: MAILER-DAEMON@mx.southside.example (Mail Delivery System)\r\nTo: jane@athen.localhost\r\n\
Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B/mx\"\r\n\r\n\
--B/mx\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n\
--B/mx\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.southside.example\r\n\
Original-Envelope-Id: {envid}\r\n\r\nFinal-Recipient: rfc822; nobody@southside.example\r\nAction: failed\r\n\
Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <nobody@southside.example>: Recipient address rejected\r\n\r\n\
--B/mx\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{message_id}>\r\nSubject: Referral\r\n\r\n--B/mx--\r\n"
    );
    let code = format!(
        "
import os, ssl, smtplib
ctx = ssl.create_default_context(cafile=os.environ['CA'])
c = smtplib.SMTP('localhost', int(os.environ['PORT']), timeout=10)
c.starttls(context=ctx)
c.ehlo('mx.southside.example')
for sender, body in [('anna@southside.example', {mdn:?}), ('', {bounce:?}), ('anna@southside.example', {unmatched:?})]:
    print(c.sendmail(sender, ['jane@athen.localhost'], body.encode()))
c.quit()
",
        mdn = mdn(&message_id),
        unmatched = mdn("someone-else@elsewhere.example"),
    );
    assert_eq!(
        python(p.server.port_of("SMTP port:"), &p.ca, &code),
        "{}\n{}\n{}\n"
    );

    let (rc, v) = audit(
        &data,
        "jane@athen.localhost",
        &["--message-id", &message_id],
    );
    assert_eq!(rc, 0, "{v}");
    assert_eq!(
        kinds(&v),
        [
            "submitted -",
            "delivered reception@northside.example",
            "read anna@southside.example",
            "failed nobody@southside.example",
        ]
    );
    let failed = &v["events"][3];
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("550 5.1.1 <nobody@southside.example>: Recipient address rejected"),
        "{failed}"
    );
    // The failure is shown; the matched read receipt is not; the
    // unmatched one is ordinary mail.
    let (rc, inbox) = mailbox(&data, "jane@athen.localhost", PW, &["list"]);
    assert_eq!(rc, 0, "{inbox}");
    let subjects: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["Undelivered Mail Returned to Sender", "Read: Referral"]
    );
    // Opening the mailbox again adds nothing: the four events of the
    // letter, and the unmatched receipt received as mail.
    let (_, again) = audit(&data, "jane@athen.localhost", &[]);
    assert_eq!(
        kinds(&again)[4..],
        ["received Dr Anna Jones <anna@southside.example>"],
        "{again}"
    );
    assert_eq!(kinds(&again).len(), 5, "{again}");
    drop(p);
}

/// Opening a letter that asked for a read receipt (ATHEN's submission asks
/// for one) records "read" in the reader's trail, once per login, and sends
/// one receipt, once, which the sender's trail then shows as "read".
#[test]
fn opening_a_letter_sends_one_read_receipt() {
    let p = TwoPractices::start(|_| {});
    let data = p.data.clone();
    p.jane_sends(
        "
for s in ['Referral', 'Second letter']:
    c.sendmail('jane@athen.localhost', ['reception@northside.example'], 'Subject: %s\\r\\n\\r\\nDear colleague\\r\\n' % s)
",
    );
    for _ in 0..2 {
        let raw = read_message(&data, "reception@northside.example", PW, "1");
        assert!(raw.contains("Disposition-Notification-To: <jane@athen.localhost>"));
    }
    let (rc, jane) = audit(&data, "jane@athen.localhost", &[]);
    assert_eq!(rc, 0, "{jane}");
    let reads: Vec<String> = kinds(&jane)
        .into_iter()
        .filter(|k| k.starts_with("read"))
        .collect();
    assert_eq!(
        reads,
        ["read reception@northside.example"],
        "one receipt: {jane}"
    );
    let (_, inbox) = mailbox(&data, "jane@athen.localhost", PW, &["list"]);
    assert_eq!(
        inbox["messages"].as_array().unwrap().len(),
        0,
        "the receipt went into the trail, not the inbox: {inbox}"
    );
    let (rc, reception) = audit(&data, "reception@northside.example", &[]);
    assert_eq!(rc, 0, "{reception}");
    let events = reception["events"].as_array().unwrap();
    let of = |kind: &str| events.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!(of("read"), 1, "once per login: {reception}");
    assert_eq!(of("receipt_sent"), 1, "{reception}");
    let read = events.iter().find(|e| e["kind"] == "read").unwrap();
    assert_eq!(read["actor"], "reception@northside.example");

    // With receipts turned off, opening the second letter sends none.
    let (rc, v) = mailbox(
        &data,
        "reception@northside.example",
        PW,
        &["settings", "--receipts", "never"],
    );
    assert_eq!((rc, v["receipts"].as_str()), (0, Some("never")), "{v}");
    read_message(&data, "reception@northside.example", PW, "2");
    let (_, jane) = audit(&data, "jane@athen.localhost", &[]);
    assert_eq!(
        kinds(&jane)
            .iter()
            .filter(|k| k.starts_with("read"))
            .count(),
        1,
        "{jane}"
    );
    drop(p);
}
