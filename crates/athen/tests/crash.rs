//! `kill -9` during a load run loses nothing that got `250`, and leaves
//! nothing half-visible.

mod common;
use common::*;
use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

const PW: &str = "correct horse battery";

#[test]
fn kill_9_during_load_loses_no_accepted_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_individual(&data, "Jane Citizen", "jane@athen.localhost", PW);
    let server = Server::start(&data, &[]);
    let smtp = server.port_of("SMTP port:");
    let record = dir.path().join("accepted.txt");
    let mut load = Command::new(BIN)
        .args([
            "bench",
            "smtp",
            "--target",
            &format!("127.0.0.1:{smtp}"),
            "--connections",
            "8",
            "--messages",
            "100000",
            "--size",
            "2048",
            "--to",
            "jane@athen.localhost",
            "--ca",
        ])
        .arg(data.join("tls/self-signed-cert.pem"))
        .arg("--record")
        .arg(&record)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let the load run until a good number of messages have been accepted.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n = std::fs::read_to_string(&record)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if n >= 150 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "load did not get going ({n} accepted)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let status = load.wait().unwrap();
    assert!(!status.success(), "the load run cannot have completed");

    let accepted: HashSet<String> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(accepted.len() >= 150);
    let (rc, v) = mailbox(&data, "jane@athen.localhost", PW, &["list"]);
    assert_eq!(rc, 0, "{v}");
    assert!(
        v["damaged_spool_entries"].as_array().unwrap().is_empty(),
        "nothing half-written: {v}"
    );
    let stored: HashSet<String> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "<{}>",
                m["message_id"]
                    .as_str()
                    .expect("every stored message parses")
            )
        })
        .collect();
    let lost: Vec<&String> = accepted.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} accepted messages lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    // Messages stored but not yet acknowledged when the server died are
    // fine (the client will send again); there can only be a few.
    assert!(
        stored.len() - accepted.len() <= 8,
        "{} stored, {} acknowledged",
        stored.len(),
        accepted.len()
    );
}
