//! Helpers for the integration tests: run the real `athen` binary.
#![allow(dead_code)]

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_athen");

/// Runs `athen <args>` with `stdin`, returning the output.
pub fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("ATHEN_CONFIG")
        .env_remove("ATHEN_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start athen");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("athen finished")
}

/// Runs `athen admin --data-dir DIR --json <args>`; returns exit code and JSON.
pub fn admin(dir: &Path, args: &[&str], stdin: &str) -> (i32, Value) {
    let mut all = vec!["admin", "--data-dir", dir.to_str().unwrap(), "--json"];
    all.extend_from_slice(args);
    let out = run(&all, stdin);
    let code = out.status.code().unwrap_or(-1);
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}) from {args:?}: stdout={text} stderr={}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, v)
}

/// Like [`admin`] but asserts success.
pub fn admin_ok(dir: &Path, args: &[&str], stdin: &str) -> Value {
    let (code, v) = admin(dir, args, stdin);
    assert_eq!(code, 0, "{args:?} failed: {v}");
    v
}

/// `athen mailbox --data-dir DIR --login LOGIN --password-stdin --json <args>`.
pub fn mailbox(dir: &Path, login: &str, secret: &str, args: &[&str]) -> (i32, Value) {
    let mut all = vec![
        "mailbox",
        "--data-dir",
        dir.to_str().unwrap(),
        "--login",
        login,
        "--password-stdin",
        "--json",
    ];
    all.extend_from_slice(args);
    let out = run(&all, &format!("{secret}\n"));
    let code = out.status.code().unwrap_or(-1);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, v)
}

pub fn create_individual(dir: &Path, name: &str, address: &str, password: &str) -> Value {
    admin_ok(
        dir,
        &[
            "account",
            "create",
            "--kind",
            "individual",
            "--name",
            name,
            "--address",
            address,
            "--password-stdin",
        ],
        &format!("{password}\n"),
    )
}

pub fn create_organisation(
    dir: &Path,
    name: &str,
    address: &str,
    password: &str,
    extra: &[&str],
) -> Value {
    let mut args = vec![
        "account",
        "create",
        "--kind",
        "organisation",
        "--name",
        name,
        "--address",
        address,
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    admin_ok(dir, &args, &format!("{password}\n"))
}

pub fn deliver(dir: &Path, to: &str, message: &str) -> Value {
    admin_ok(dir, &["deliver", "--to", to], message)
}

/// A small RFC 5322 message.
pub fn letter(subject: &str, body: &str) -> String {
    format!(
        "From: Dr Sender <sender@remote.example>\r\nTo: someone@athen.localhost\r\nSubject: {subject}\r\n\
Date: Tue, 24 Nov 2026 10:00:00 +1100\r\nMessage-ID: <{}@remote.example>\r\n\r\n{body}\r\n",
        subject.len() * 7919 + body.len()
    )
}
