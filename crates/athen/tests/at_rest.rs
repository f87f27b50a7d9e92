//! What is on disk: no message content in the clear, damaged data detected,
//! a full disk failing cleanly.

mod common;
use common::*;
use std::path::Path;

const PW: &str = "correct horse battery";

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_marker_is_stored_in_plaintext_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_individual(d, "Jane Citizen", "jane@example.test", PW);
    create_organisation(
        d,
        "Northside Medical",
        "reception@northside.example",
        PW,
        &[],
    );
    // Markers in the subject, body, correspondents' addresses and patient details.
    let markers = [
        "ZQXSUBJECTMARKER",
        "ZQXBODYMARKER",
        "zqx.correspondent@remote.example",
        "ZQXPATIENTSURNAME",
        "4009887514",
    ];
    let msg = String::from(
        "From: Dr Sender <zqx.correspondent@remote.example>\r\nTo: jane@example.test\r\n\
Subject: [ZQXPATIENTSURNAME, John (M) DOB:01/02/1960] ZQXSUBJECTMARKER\r\n\
X-Athen-Patient: family=ZQXPATIENTSURNAME; medicare=4009887514\r\n\r\n\
Dear Dr, re ZQXPATIENTSURNAME, Medicare 4009887514: ZQXBODYMARKER.\r\n",
    );
    for _ in 0..3 {
        deliver(d, "jane@example.test", &msg);
        deliver(d, "reception@northside.example", &msg);
    }
    // One mailbox unspooled into the store (and listed), one left sealed in the spool.
    let (rc, inbox) = mailbox(d, "jane@example.test", PW, &["list"]);
    assert_eq!(rc, 0);
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 3);
    assert_eq!(
        inbox["messages"][0]["subject"],
        "[ZQXPATIENTSURNAME, John (M) DOB:01/02/1960] ZQXSUBJECTMARKER"
    );

    let all = files(d);
    assert!(
        all.iter()
            .any(|p| p.to_string_lossy().contains("/blobs/mail/")),
        "stored mail exists"
    );
    assert!(
        all.iter()
            .any(|p| p.to_string_lossy().contains("/blobs/spool/")),
        "spooled mail exists"
    );
    for f in &all {
        let bytes = std::fs::read(f).unwrap();
        for m in markers {
            assert!(
                !contains(&bytes, m.as_bytes()),
                "{m} found in plaintext in {}",
                f.display()
            );
            let lower = m.to_lowercase();
            assert!(
                !contains(&bytes, lower.as_bytes()),
                "{lower} found in {}",
                f.display()
            );
        }
    }

    // Nothing can be read without a credential.
    let (rc, v) = mailbox(d, "jane@example.test", "not the password", &["list"]);
    assert_eq!(rc, 5);
    assert!(!v.to_string().contains("ZQX"));
}

#[test]
fn damaged_spool_entry_is_reported_and_kept_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_individual(d, "Jane Citizen", "jane@example.test", PW);
    deliver(d, "jane@example.test", &letter("intact", "fine"));
    deliver(
        d,
        "jane@example.test",
        &letter("to be damaged", "x".repeat(5000).as_str()),
    );
    // Truncate the newest spool blob.
    let mut spooled: Vec<_> = files(d)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/blobs/spool/"))
        .collect();
    spooled.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let big = spooled.last().unwrap().clone();
    let bytes = std::fs::read(&big).unwrap();
    std::fs::write(&big, &bytes[..bytes.len() / 2]).unwrap();

    let (rc, v) = mailbox(d, "jane@example.test", PW, &["list"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(
        v["messages"].as_array().unwrap().len(),
        1,
        "the intact message is delivered"
    );
    assert_eq!(
        v["damaged_spool_entries"].as_array().unwrap().len(),
        1,
        "the damaged one is reported"
    );
    assert!(
        big.exists(),
        "the damaged entry is kept for the administrator, not deleted"
    );
    let show = admin_ok(d, &["account", "show", "jane@example.test"], "");
    assert_eq!(show["mailbox"]["spooled"], 1);
}

#[test]
fn damaged_stored_message_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_individual(d, "Jane Citizen", "jane@example.test", PW);
    deliver(d, "jane@example.test", &letter("stored", "body"));
    let (rc, _) = mailbox(d, "jane@example.test", PW, &["list"]);
    assert_eq!(rc, 0);
    let stored = files(d)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/blobs/mail/"))
        .unwrap();
    let mut bytes = std::fs::read(&stored).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&stored, &bytes).unwrap();
    let out = run(
        &[
            "mailbox",
            "--data-dir",
            d.to_str().unwrap(),
            "--login",
            "jane@example.test",
            "--password-stdin",
            "read",
            "1",
        ],
        &format!("{PW}\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("damaged"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty(), "no partial plaintext is written");
}

/// A real full disk: a 3 MiB tmpfs. Needs root (as the test machines and CI run).
#[test]
fn full_disk_fails_cleanly_and_nothing_half_written_is_visible() {
    let mnt = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(mnt.path())
        .status()
        .expect("run mount");
    assert!(
        status.success(),
        "mounting a small tmpfs needs root; run the suite as root (CI does)"
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(mnt.path());
    let d = mnt.path().join("data");
    create_individual(&d, "Jane Citizen", "jane@example.test", PW);
    deliver(&d, "jane@example.test", &letter("before", "fits"));

    // Fill the disk, leaving a little room.
    let filler = mnt.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let free_some = std::fs::metadata(&filler)
        .unwrap()
        .len()
        .saturating_sub(48 * 1024);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(free_some)
        .unwrap();

    let big = letter("too big for the disk", &"y".repeat(400 * 1024));
    let (rc, v) = admin(&d, &["deliver", "--to", "jane@example.test"], &big);
    assert_eq!(rc, 1, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("space"),
        "{v}"
    );
    // Nothing half-written: no temporary left, no spool entry, one blob as before.
    assert_eq!(std::fs::read_dir(d.join("blobs/tmp")).unwrap().count(), 0);
    let show = admin_ok(&d, &["account", "show", "jane@example.test"], "");
    assert_eq!(show["mailbox"]["spooled"], 1);

    // With room again, delivery works and all mail is there.
    std::fs::remove_file(&filler).unwrap();
    deliver(&d, "jane@example.test", &big);
    let (rc, inbox) = mailbox(&d, "jane@example.test", PW, &["list"]);
    assert_eq!(rc, 0);
    let subjects: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["before", "too big for the disk"]);
}
