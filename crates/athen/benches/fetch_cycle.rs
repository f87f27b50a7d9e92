//! The downloader's benchmark: 1,000 converted letters fetched by
//! `athen-fetch once` in one cycle against the real server (release
//! builds, TLS over loopback, a pinned self-signed certificate), with the
//! time and the peak memory (maximum resident set) of the client; then a
//! cycle with nothing new, and one that reports all 1,000 imported after
//! the "clinical system" emptied the import folder.
//!
//!     cargo bench -p athen --bench fetch_cycle
//!
//! `ATHEN_BENCH_LETTERS` changes the number (default 1,000). The letters
//! are sent by Python's smtplib over one submission session and unspooled
//! (and converted to HL7) by one log-in before the cycle is timed; that
//! time is printed too.

#[path = "../tests/common/mod.rs"]
mod common;
use common::*;
use std::process::Command;
use std::time::Instant;

/// Runs the downloader under Python's `resource`, which reports the
/// child's peak resident set: (exit code, seconds, peak KiB, stderr).
fn measured(args: &[&str], stdin: &str) -> (i32, f64, u64, String) {
    let code = r#"
import json, resource, subprocess, sys, time
t = time.monotonic()
p = subprocess.run(sys.argv[1:], input=sys.stdin.read().encode(), capture_output=True)
took = time.monotonic() - t
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": p.returncode, "seconds": took, "peak_kib": peak, "stderr": p.stderr.decode()[-2000:]}))
"#;
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(code).arg(fetch_bin()).args(args);
    let out = output_with_stdin(&mut cmd, stdin);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["code"].as_i64().unwrap() as i32,
        v["seconds"].as_f64().unwrap(),
        v["peak_kib"].as_u64().unwrap(),
        v["stderr"].as_str().unwrap().to_string(),
    )
}

fn main() {
    let letters: usize = std::env::var("ATHEN_BENCH_LETTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let token = std::cell::RefCell::new(String::new());
    let p = TwoPractices::start(|data| {
        takes_hl7(data, "reception@northside.example");
        let t = admin_ok(
            data,
            &[
                "token",
                "issue",
                "reception@northside.example",
                "--label",
                "benchmark",
                "--password-stdin",
            ],
            &format!("{JANE_PW}\n"),
        );
        *token.borrow_mut() = t["token"].as_str().unwrap().to_string();
    });
    let token = token.into_inner();
    let started = Instant::now();
    p.api_run(&format!(
        r#"
c = smtplib.SMTP("localhost", int(os.environ["SUBMISSION"]), timeout=60)
c.starttls(context=ctx)
c.login("jane@athen.localhost", os.environ["PW"])
for i in range({letters}):
    given = "John" + chr(97 + i // 676 % 26) + chr(97 + i // 26 % 26) + chr(97 + i % 26)
    c.sendmail("jane@athen.localhost", ["reception@northside.example"],
        ("From: Dr Peter Smith <jane@athen.localhost>\r\nTo: reception@northside.example\r\n"
         "Subject: [CITIZEN, " + given + " (M) DOB:01/02/1960] Referral\r\n"
         "Content-Type: text/plain; charset=utf-8\r\n\r\n"
         "Dear Dr Jones,\r\n\r\nThank you for seeing this patient, who has had chest pain on exertion for three weeks.\r\n\r\n"
         "Yours sincerely,\r\n\r\nDr Peter Smith\r\n").encode())
c.quit()
print("{{}}")
"#
    ));
    println!(
        "sent {letters} letters in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let v = p.api_run(
        r#"
t = login("reception@northside.example", os.environ["PW"])
settled(t)
n = 0
after = ""
while True:
    page = api("GET", "/api/v1/downloads?limit=500" + after, token=t)[2]
    n += len(page["downloads"])
    if not page["next"]:
        break
    after = "&after=" + page["next"]
api("DELETE", "/api/v1/session", token=t)
print(json.dumps({"waiting": n}))
"#,
    );
    println!(
        "unspooled and converted them (one log-in) in {:.1} s; {} files wait",
        started.elapsed().as_secs_f64(),
        v["waiting"]
    );
    assert_eq!(v["waiting"].as_u64(), Some(letters as u64), "{v}");

    let dir = p._dir.path();
    let import = dir.join("import");
    std::fs::create_dir(&import).unwrap();
    let config = dir.join("fetch/config.toml");
    let config_s = config.to_str().unwrap();
    let url = format!("https://localhost:{}", p.server.port);
    let (code, ..) = measured(
        &[
            "--config",
            config_s,
            "setup",
            "--server",
            &url,
            "--login",
            "reception@northside.example",
            "--token-stdin",
            "--import-folder",
            import.to_str().unwrap(),
            "--trust-on-first-use",
        ],
        &format!("{token}\n"),
    );
    assert_eq!(code, 0);
    for (label, before) in [
        ("cycle fetching them all", None),
        ("cycle with nothing new", None),
        ("cycle reporting all imported", Some(())),
    ] {
        if before.is_some() {
            for e in std::fs::read_dir(&import).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_file() {
                    std::fs::remove_file(e.path()).unwrap();
                }
            }
        }
        let (code, seconds, peak, stderr) =
            measured(&["--config", config_s, "--quiet", "once"], "");
        assert_eq!(code, 0, "{stderr}");
        let files = std::fs::read_dir(&import)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_file())
            .count();
        let rate = if before.is_none() && label.contains("all") {
            format!(", {:.0} files/s", letters as f64 / seconds)
        } else if before.is_some() {
            format!(", {:.0} reports/s", letters as f64 / seconds)
        } else {
            String::new()
        };
        println!(
            "{label}: {seconds:.2} s, peak memory {:.1} MiB{rate}; {files} files in the import folder",
            peak as f64 / 1024.0,
        );
    }
}
