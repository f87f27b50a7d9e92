//! `athen localserve` for the load benchmarks: every port ephemeral, no
//! DNS beyond loopback, logs quiet; returns the process and its HTTPS
//! port once it says it is running. The caller stops it by its PID.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub fn start(binary: &str, data: &Path, extra: &[&str]) -> (Child, u16) {
    let mut child = Command::new(binary)
        .args(["localserve", "--data-dir"])
        .arg(data)
        .args([
            "--https-port",
            "0",
            "--smtp-port",
            "0",
            "--submission-port",
            "0",
            "--submissions-port",
            "0",
            "--imap-port",
            "0",
            "--imaps-port",
            "0",
            "--dns-server",
            "127.0.0.1:9",
        ])
        .args(extra)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut port = 0u16;
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if let Some(p) = line.trim().strip_prefix("HTTPS port:") {
            port = p.trim().parse().unwrap();
        }
        if line.contains("Stop with Ctrl-C") {
            break;
        }
        line.clear();
    }
    std::thread::spawn(move || for _ in reader.lines() {});
    (child, port)
}
