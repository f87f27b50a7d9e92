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
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3, hashlib, struct, sys\ndb = sqlite3.connect(sys.argv[1])\n{code}\ndb.commit()"
        ))
        .arg(data.join("athen.db"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_letter_is_followed_in_both_trails_and_tampering_is_caught() {
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
    let ca = data.join("tls/self-signed-cert.pem");
    python(
        server.port_of("Submission port:"),
        &ca,
        "
import os, ssl, smtplib
ctx = ssl.create_default_context(cafile=os.environ['CA'])
c = smtplib.SMTP('localhost', int(os.environ['PORT']), timeout=10)
c.starttls(context=ctx)
c.login('jane@athen.localhost', 'correct horse battery')
msg = 'From: Jane Citizen <jane@athen.localhost>\\r\\nTo: reception@northside.example, gp@elsewhere.example\\r\\nSubject: Referral\\r\\n\\r\\nDear colleague\\r\\n'
c.sendmail('jane@athen.localhost', ['reception@northside.example', 'gp@elsewhere.example'], msg)
c.quit()
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
    drop(server);
}
