//! The unspool pipeline's clinical conversion through the real server: a
//! letter sent with Python's smtplib, with the patient in a folded ATHEN
//! subject, arrives with an HL7 file attached (checked by hl7apy); a letter
//! that names no patient arrives unchanged; the trail says which.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

const PW: &str = "correct horse battery";

fn send(p: &TwoPractices, subject: &str, body: &str) {
    p.jane_sends(&format!(
        "msg = 'From: Dr Peter Smith <jane@athen.localhost>\\r\\nTo: reception@northside.example\\r\\nSubject: ' + {subject:?} + '\\r\\nContent-Type: text/plain; charset=utf-8\\r\\n\\r\\n' + {body:?}
c.sendmail('jane@athen.localhost', ['reception@northside.example'], msg.encode())"
    ));
}

/// Sets reception's delivery formats; returns the command's exit code and JSON.
fn set_formats(data: &Path, formats: &str) -> (i32, Value) {
    mailbox(
        data,
        "reception@northside.example",
        PW,
        &["settings", "--delivery-formats", formats],
    )
}

/// The attachments of a message, as Python's email package sees them.
fn attachments(raw: &str, dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let eml = dir.join("message.eml");
    std::fs::write(&eml, raw).unwrap();
    python_script(
        r#"
import email, sys, os
m = email.message_from_binary_file(open(sys.argv[1], 'rb'))
for p in m.walk():
    name = p.get_filename()
    if name:
        open(os.path.join(sys.argv[2], name), 'wb').write(p.get_payload(decode=True))
        print(name)
"#,
        &[eml.to_str().unwrap(), dir.to_str().unwrap()],
    )
    .lines()
    .map(|n| (n.to_string(), dir.join(n)))
    .collect()
}

#[test]
fn a_letter_with_a_patient_subject_arrives_with_its_hl7_file() {
    let p = TwoPractices::start(|data| {
        // The practice chooses its formats: HL7 first, PIT if HL7 cannot be made.
        let (rc, v) = set_formats(data, "hl7-oru, pit");
        assert_eq!(rc, 0, "{v}");
        assert_eq!(
            v["delivery_formats"],
            serde_json::json!(["hl7-oru:adrm2021", "pit"])
        );
        let (rc, v) = set_formats(data, "hl7-oru,docx");
        assert_eq!(rc, 2, "{v}");
        assert!(v.to_string().contains("unknown delivery format"), "{v}");
    });
    let (data, dir) = (&p.data, p._dir.path());
    // RFC 5322 §2.2.3: a long subject is folded; the patient is found
    // after unfolding.
    send(
        &p,
        "[O'BRIEN, Sean (M) DOB:01/02/1960 12 Main St, Northside 2000]\r\n Referral for chest pain",
        "Dear Dr Jones,\r\n\r\nThank you for seeing Sean, who has exertional chest pain.\r\n\r\n\
Yours sincerely,\r\n\r\nDr Peter Smith\r\nProvider No: 2426621B\r\n",
    );
    send(
        &p,
        "Practice meeting",
        "Dear all,\r\n\r\nThe meeting moves to Tuesday.\r\n",
    );

    let (rc, list) = mailbox(data, "reception@northside.example", PW, &["list"]);
    assert_eq!(rc, 0, "{list}");
    let messages = list["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{list}");
    assert_eq!(
        messages[0]["subject"],
        "[O'BRIEN, Sean (M) DOB:01/02/1960 12 Main St, Northside 2000] Referral for chest pain"
    );

    let raw = read_message(data, "reception@northside.example", PW, "1");
    assert!(
        raw.starts_with("X-Athen-Converted: hl7-oru:adrm2021; file=DPS00001.HL7\r\n"),
        "{raw}"
    );
    assert!(
        raw.contains("Thank you for seeing Sean"),
        "the letter is kept"
    );
    let files = attachments(&raw, dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let (name, path) = &files[0];
    assert_eq!(name, "DPS00001.HL7");
    let report = hl7_validate_with_pdf(path);
    assert!(report.contains("ORU_R01 v2.4"), "{report}");
    let hl7 = std::fs::read_to_string(path).unwrap();
    let pid = hl7
        .split('\r')
        .find(|s| s.starts_with("PID|"))
        .unwrap()
        .to_string();
    assert!(pid.contains("|O'BRIEN^Sean^"), "{pid}");
    assert!(pid.contains("|19600201|M"), "{pid}");
    // The practice's register gives Sean his number, the first.
    assert!(pid.contains("|000001^^^ATHEN^MR|"), "{pid}");

    // The meeting notice names no patient: delivered as it came.
    let raw = read_message(data, "reception@northside.example", PW, "2");
    assert!(!raw.contains("X-Athen-Converted"), "{raw}");
    assert!(attachments(&raw, dir).is_empty());

    let (rc, trail) = mailbox(data, "reception@northside.example", PW, &["audit"]);
    assert_eq!(rc, 0, "{trail}");
    // (Reading the letters above added "read" and "receipt_sent" too.)
    let events: Vec<&Value> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "received" || e["kind"] == "converted")
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["received", "converted", "received", "converted"]);
    assert_eq!(events[1]["detail"], "hl7-oru:adrm2021");
    assert_eq!(events[1]["file"], "DPS00001.HL7");
    assert_eq!(events[1]["message_id"], events[0]["message_id"]);
    let why = events[3]["detail"].as_str().unwrap();
    assert!(why.starts_with("not possible, because"), "{why}");
    assert!(events[3]["file"].is_null());

    // The next letter from the same sender gets the next run number.
    send(
        &p,
        "[O'BRIEN, Sean (M) DOB:01/02/1960] Follow-up",
        "Dear Dr Jones,\r\n\r\nA follow-up.\r\n",
    );
    // A letter about another patient, then Sean again (his name written
    // another way): Sean keeps his number in the register.
    send(
        &p,
        "[CITIZEN, Mary (F) DOB:03/04/1950] Referral",
        "Dear Dr Jones,\r\n\r\nMary needs a review.\r\n",
    );
    send(
        &p,
        "[OBRIEN, Sean Patrick (M) DOB:01/02/1960] Results",
        "Dear Dr Jones,\r\n\r\nResults attached.\r\n",
    );
    let raw = read_message(data, "reception@northside.example", PW, "3");
    assert!(raw.starts_with("X-Athen-Converted: hl7-oru:adrm2021; file=DPS00002.HL7\r\n"));
    let pid_of = |uid: &str| {
        let raw = read_message(data, "reception@northside.example", PW, uid);
        let files = attachments(&raw, dir);
        let hl7 = std::fs::read_to_string(&files[0].1).unwrap();
        let pid = hl7.split('\r').find(|s| s.starts_with("PID|")).unwrap();
        pid.split('|').nth(3).unwrap().to_string()
    };
    assert_eq!(pid_of("3"), "000001^^^ATHEN^MR");
    assert_eq!(pid_of("4"), "000002^^^ATHEN^MR");
    assert_eq!(pid_of("5"), "000001^^^ATHEN^MR");
    drop(p);
}

/// Killing the unspooler (`kill -9`) at different moments loses and
/// duplicates nothing: every letter is stored once, with one "received"
/// and one "converted" entry, and the trail still checks.
#[test]
fn killing_the_unspooler_loses_and_duplicates_nothing() {
    let p = TwoPractices::start(|data| {
        let (rc, v) = set_formats(data, "hl7-oru");
        assert_eq!(rc, 0, "{v}");
    });
    let data = &p.data;
    const LETTERS: usize = 120;
    p.jane_sends(&format!(
        "for i in range({LETTERS}):
    msg = 'From: Dr Peter Smith <jane@athen.localhost>\\r\\nSubject: [SMITH, John (M) DOB:01/02/1960] Letter %d\\r\\n\\r\\nDear Dr Jones,\\r\\n\\r\\nLetter number %d.\\r\\n' % (i, i)
    c.sendmail('jane@athen.localhost', ['reception@northside.example'], msg)"
    ));
    for delay_ms in [30, 80, 150, 250] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_athen"))
            .args([
                "mailbox",
                "--data-dir",
                data.to_str().unwrap(),
                "--login",
                "reception@northside.example",
                "--password-stdin",
                "list",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PW}\n").as_bytes())
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let (rc, list) = mailbox(data, "reception@northside.example", PW, &["list"]);
    assert_eq!(rc, 0, "{list}");
    let mut subjects: Vec<String> = list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_string())
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), LETTERS, "each letter once");
    assert_eq!(list["messages"].as_array().unwrap().len(), LETTERS);
    let (rc, trail) = mailbox(data, "reception@northside.example", PW, &["audit"]);
    assert_eq!(rc, 0, "{trail}");
    let count = |kind: &str| {
        trail["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .count()
    };
    assert_eq!(count("received"), LETTERS);
    assert_eq!(count("converted"), LETTERS);
    let mut files: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["file"].as_str())
        .collect();
    files.sort();
    files.dedup();
    assert_eq!(files.len(), LETTERS, "run numbers never repeat");
    let v = admin_ok(data, &["audit", "verify"], "");
    assert!(
        v["trails"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["intact"] == true),
        "{v}"
    );
    drop(p);
}
