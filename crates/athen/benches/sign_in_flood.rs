//! Wrong passwords sent all at once to the real server (localserve, TLS
//! on loopback, the default Argon2id of 19 MiB), as an attacker with many
//! connections or HTTP/2 streams would (issue 20):
//!
//! 1. 200 wrong passwords for one login at once, from one address: how
//!    many were checked (401) and how many refused by the throttle (429),
//!    how long the flood took, and the server's peak memory.
//! 2. 200 wrong passwords for 200 made-up logins at once from 200
//!    addresses (127.0.0.1–127.0.0.200): every one costs an Argon2 run
//!    (unknown logins cost the same as known ones), so this measures the
//!    cap on Argon2 work running at once and the memory it holds.
//!
//!     cargo bench -p athen --bench sign_in_flood
//!
//! `ATHEN_BENCH_BINARY` runs another build of `athen` (an older commit's,
//! to compare); `ATHEN_BENCH_FLOOD` changes the 200.

use std::io::Write;
use std::process::{Command, Stdio};

#[path = "support/localserve.rs"]
mod localserve;

const PASSWORD: &str = "benchmark password";

fn binary() -> String {
    std::env::var("ATHEN_BENCH_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_athen").into())
}

fn admin(data: &std::path::Path, args: &[&str], stdin: &str) {
    let mut child = Command::new(binary())
        .args(["admin", "--data-dir", data.to_str().unwrap(), "--json"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "{args:?}");
}

/// A kibibyte figure from /proc/PID/status (`VmRSS`, `VmHWM`).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Sends `n` log-ins at once (one thread and connection each) and prints
/// the statuses and the time; `spread` gives each its own login name and
/// source address.
fn flood(port: u16, ca: &std::path::Path, n: usize, spread: bool) -> String {
    let script = r#"
import os, ssl, json, time, threading, http.client, collections
port = int(os.environ["PORT"]); n = int(os.environ["N"]); spread = os.environ["SPREAD"] == "1"
ctx = ssl.create_default_context(cafile=os.environ["CA"])
statuses = collections.Counter()
start = threading.Barrier(n + 1)
def one(i):
    source = ("127.0.0.%d" % (i % 250 + 1), 0) if spread else None
    c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=600, source_address=source)
    try:
        c.connect()
    except OSError:
        # The server closes connections beyond its per-address limit.
        start.wait()
        statuses["connection closed"] += 1
        return
    login = "nobody%d@athen.localhost" % i if spread else "flood@athen.localhost"
    body = json.dumps({"login": login, "password": "wrong guess %d" % i})
    start.wait()
    try:
        c.request("POST", "/api/v1/session", body, {"Content-Type": "application/json"})
        statuses[c.getresponse().status] += 1
    except OSError:
        statuses["connection closed"] += 1
    c.close()
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads: t.start()
start.wait()
t0 = time.time()
for t in threads: t.join()
print(json.dumps({"seconds": round(time.time() - t0, 2), "statuses": dict(statuses)}))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .env("PORT", port.to_string())
        .env("N", n.to_string())
        .env("SPREAD", if spread { "1" } else { "0" })
        .env("CA", ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench --list: nothing to list
    }
    let n: usize = std::env::var("ATHEN_BENCH_FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    eprintln!("athen binary: {}", binary());
    for (title, spread) in [
        (
            format!("{n} wrong passwords for one login at once, one address"),
            false,
        ),
        (
            format!("{n} wrong passwords for {n} unknown logins at once, {n} addresses"),
            true,
        ),
    ] {
        // A fresh server each time, so the peak memory is this flood's.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let data = dir.path().join("data");
        admin(
            &data,
            &[
                "account",
                "create",
                "--kind",
                "individual",
                "--name",
                "Flood Target",
                "--address",
                "flood@athen.localhost",
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        );
        let (mut child, port) = localserve::start(&binary(), &data, &[]);
        let before = memory_kib(child.id(), "VmRSS");
        let result = flood(port, &data.join("tls/self-signed-cert.pem"), n, spread);
        let peak = memory_kib(child.id(), "VmHWM");
        println!(
            "{title}: {result}; server memory {:.0} MiB before, peak {:.0} MiB",
            before as f64 / 1024.0,
            peak as f64 / 1024.0
        );
        // Stops the server this benchmark started, by its PID.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
}
