//! The downloader, `athen-fetch`, end to end against the real server on
//! loopback with temporary folders: setup (pinning a self-signed
//! certificate on first use, or trusting the system's roots), cycles that
//! put each HL7 file into the import folder once (checked by hl7apy) and
//! tell the sender when it is downloaded and when the clinical system took
//! it, two copies at once, and faults: the server killed mid-cycle, a
//! full disk (a small tmpfs), a download corrupted by a hostile proxy, a
//! certificate that changed, a revoked app token.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `athen-fetch` binary, built beside the server (the workspace's
/// test run builds both). When its sources are newer than it (a run of
/// this crate alone after a change to the downloader), it is built first.
fn fetch_bin() -> PathBuf {
    let bin = Path::new(BIN).with_file_name(format!("athen-fetch{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../athen-fetch/src");
    let newest_source = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok())
        .max();
    if built.is_none() || newest_source > built {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut c = Command::new(cargo);
        c.args(["build", "-q", "-p", "athen-fetch", "--bin", "athen-fetch"]);
        if BIN.contains("/release/") {
            c.arg("--release");
        }
        assert!(c.status().unwrap().success(), "cargo build -p athen-fetch");
    }
    bin
}

struct Fetched {
    code: i32,
    stdout: String,
    stderr: String,
}

fn fetch(config: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Fetched {
    let mut child = Command::new(fetch_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let f = Fetched {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!f.stderr.contains("panicked"), "{}", f.stderr);
    f
}

/// An app token for Northside's own login, issued before the server starts.
fn issue_token(data: &Path) -> String {
    let t = admin_ok(
        data,
        &[
            "token",
            "issue",
            "reception@northside.example",
            "--label",
            "athen-fetch at the front desk",
            "--password-stdin",
        ],
        &format!("{JANE_PW}\n"),
    );
    t["token"].as_str().unwrap().to_string()
}

/// A practice whose letters become HL7, its downloader's token, an
/// import folder and a settings file.
struct Practice {
    p: TwoPractices,
    token: String,
    import: PathBuf,
    config: PathBuf,
}

impl Practice {
    fn start() -> Practice {
        let token = std::cell::RefCell::new(String::new());
        let p = TwoPractices::start(|data| {
            northside_takes_hl7(data);
            *token.borrow_mut() = issue_token(data);
        });
        let import = p._dir.path().join("import");
        std::fs::create_dir(&import).unwrap();
        let config = p._dir.path().join("fetch/config.toml");
        Practice {
            token: token.into_inner(),
            import,
            config,
            p,
        }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}", self.p.server.port)
    }

    /// `athen-fetch setup`, pinning the server's certificate.
    fn setup(&self, import: &Path) -> Fetched {
        fetch(
            &self.config,
            &[
                "setup",
                "--server",
                &self.url(),
                "--login",
                "reception@northside.example",
                "--token-stdin",
                "--import-folder",
                import.to_str().unwrap(),
                "--trust-on-first-use",
            ],
            &format!("{}\n", self.token),
            &[],
        )
    }

    fn once(&self) -> Fetched {
        fetch(&self.config, &["once"], "", &[])
    }

    /// Jane sends `n` letters about patients, tagged `tag1`…`tagn`.
    fn letters(&self, n: usize, tag: &str) {
        self.p.api_run(&format!(
            r#"
for i in range({n}):
    given = "John" + chr(97 + i // 26) + chr(97 + i % 26)
    send_letter("[CITIZEN, %s (M) DOB:01/02/1960] Referral" % given, "{tag}%d" % i)
print("{{}}")
"#
        ));
    }

    /// The server's downloads in each state, as Northside's API lists them.
    fn states(&self) -> Value {
        self.p.api_run(
            r#"
t = login("reception@northside.example", os.environ["PW"])
settled(t)
out = {}
for s in ["waiting", "downloaded", "imported", "failed"]:
    out[s] = api("GET", "/api/v1/downloads?limit=500&state=" + s, token=t)[2]["downloads"]
print(json.dumps(out))
"#,
        )
    }
}

/// The files in a folder (not the staging folder), by name.
fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// What is left in the staging folder (half downloads).
fn staged(import: &Path) -> usize {
    std::fs::read_dir(import.join(".athen-fetch-partial"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn letters_land_in_the_import_folder_once_and_the_sender_hears_of_it() {
    let pr = Practice::start();
    pr.letters(2, "QZA");
    pr.p.api_run(
        r#"send_letter("Practice meeting", "QZMEET")
print("{}")"#,
    );

    // A server with a self-signed certificate: pinned on first use, and
    // said so; the settings are the user's own.
    let s = pr.setup(&pr.import);
    assert_eq!(s.code, 0, "{}{}", s.stdout, s.stderr);
    // The fingerprint shown is the one the server printed at its start.
    let printed =
        pr.p.server
            .summary
            .lines()
            .find_map(|l| l.trim().strip_prefix("Certificate SHA-256:"))
            .and_then(|l| l.split_whitespace().next())
            .expect("the server prints its certificate's fingerprint")
            .to_string();
    assert!(
        s.stderr
            .contains(&format!("SHA-256 fingerprint is {printed}.")),
        "{}",
        s.stderr
    );
    assert!(
        s.stdout.contains("only the certificate pinned at setup"),
        "{}",
        s.stdout
    );
    let settings = std::fs::read_to_string(&pr.config).unwrap();
    assert!(settings.contains("mode = \"pinned\""), "{settings}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&pr.config).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");

    // The same server trusted by the system's roots (here: its own
    // certificate as the only root, as SSL_CERT_FILE says).
    let other = pr.p._dir.path().join("system/config.toml");
    let s = fetch(
        &other,
        &[
            "setup",
            "--server",
            &pr.url(),
            "--login",
            "reception@northside.example",
            "--token-stdin",
            "--import-folder",
            pr.import.to_str().unwrap(),
        ],
        &format!("{}\n", pr.token),
        &[("SSL_CERT_FILE", pr.p.ca.to_str().unwrap())],
    );
    assert_eq!(s.code, 0, "{}{}", s.stdout, s.stderr);
    assert!(
        s.stdout
            .contains("the computer's trusted certificate authorities"),
        "{}",
        s.stdout
    );
    // A mistyped token saves nothing.
    let bad = fetch(
        &pr.p._dir.path().join("bad/config.toml"),
        &[
            "setup",
            "--server",
            &pr.url(),
            "--login",
            "reception@northside.example",
            "--token-stdin",
            "--import-folder",
            pr.import.to_str().unwrap(),
            "--trust-on-first-use",
        ],
        "athen_not-a-token\n",
        &[],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("nothing was saved"), "{}", bad.stderr);
    assert!(!pr.p._dir.path().join("bad/config.toml").exists());

    let first = pr.once();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stderr.contains("2 downloaded"), "{}", first.stderr);
    let names = files_in(&pr.import);
    assert_eq!(names.len(), 2, "{names:?}");
    // Checked by hl7apy in a folder of their own (the check writes files
    // beside the one it checks).
    let checked = pr.p._dir.path().join("checked");
    std::fs::create_dir(&checked).unwrap();
    for n in &names {
        assert!(n.ends_with(".HL7"), "{n}");
        std::fs::copy(pr.import.join(n), checked.join(n)).unwrap();
        let report = hl7_validate_with_pdf(&checked.join(n));
        assert!(report.contains("ORU_R01"), "{report}");
    }
    assert_eq!(staged(&pr.import), 0);
    // Again: nothing new, nothing twice.
    let again = pr.once();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("0 downloaded"), "{}", again.stderr);
    assert_eq!(files_in(&pr.import), names);

    let st = fetch(&pr.config, &["status"], "", &[]);
    assert_eq!(st.code, 0, "{}", st.stderr);
    assert!(
        st.stdout
            .contains("In the import folder, waiting for the clinical system: 2"),
        "{}",
        st.stdout
    );
    assert!(!st.stdout.contains(&pr.token), "the token is never shown");

    // The clinical system takes one file.
    let taken = names.iter().next().unwrap().clone();
    std::fs::remove_file(pr.import.join(&taken)).unwrap();
    let third = pr.once();
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert!(third.stderr.contains("1 imported"), "{}", third.stderr);
    assert!(third.stderr.contains(&format!("imported {taken}")));
    let v = pr.states();
    assert_eq!(v["imported"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["imported"][0]["file"], taken.as_str());
    assert_eq!(v["downloaded"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["waiting"], serde_json::json!([]));
    let tag = v["imported"][0]["message_id"].as_str().unwrap().to_string();

    // Jane's trail follows her letter into the clinical system.
    let jane = pr.p.api_run(&format!(
        r#"
j = login("jane@athen.localhost", os.environ["PW"])
settled(j)
sent = api("GET", "/api/v1/folders/Sent/messages?limit=200", token=j)[2]["messages"]
uid = [m for m in sent if m["message_id"] == {tag:?}][0]["uid"]
print(json.dumps(api("GET", "/api/v1/folders/Sent/messages/%d/audit" % uid, token=j)[2]))
"#
    ));
    let kinds: Vec<&str> = jane["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.ends_with(&["downloaded", "imported"]),
        "{kinds:?}: {jane}"
    );

    // Two copies at once: the second stops and says why.
    let mut running = Command::new(fetch_bin())
        .arg("--config")
        .arg(&pr.config)
        .args(["run", "--interval", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Its first cycle done (it writes last-cycle.json), it holds the lock
    // while it waits for the next.
    let last = pr.config.with_file_name("last-cycle.json");
    let before = std::fs::metadata(&last).unwrap().modified().unwrap();
    wait_for("the running copy's first cycle", || {
        assert!(running.try_wait().unwrap().is_none(), "run stopped");
        (std::fs::metadata(&last).unwrap().modified().unwrap() > before).then_some(())
    });
    let busy = pr.once();
    assert_eq!(busy.code, 3, "{}", busy.stderr);
    assert!(
        busy.stderr.contains("another athen-fetch is running"),
        "{}",
        busy.stderr
    );
    running.kill().unwrap();
    let _ = running.wait();
    assert_eq!(
        pr.once().code,
        0,
        "the lock went with the copy that held it"
    );
}

/// `localserve` on a data directory with a fixed HTTPS port (so a
/// downloader's settings still name it after a restart).
fn serve_on(data: &Path, port: u16) -> Server {
    let port = port.to_string();
    let dns = Dns::empty();
    let address = dns.address();
    let mut s = Server::start_with(&[
        "localserve",
        "--data-dir",
        data.to_str().unwrap(),
        "--https-port",
        &port,
        "--smtp-port",
        "0",
        "--submission-port",
        "0",
        "--submissions-port",
        "0",
        "--dns-server",
        &address,
    ]);
    s.dns = Some(dns);
    s
}

#[test]
fn the_server_killed_mid_cycle_loses_nothing_and_duplicates_nothing() {
    let mut pr = Practice::start();
    pr.letters(40, "QZK");
    // Settings made against the running server; then it runs again on
    // the same port so that a kill and a restart keep the address.
    let port = pr.p.server.port;
    assert_eq!(pr.setup(&pr.import).code, 0);
    let _ = pr.p.server.child.kill();
    let _ = pr.p.server.child.wait();
    pr.p.server = serve_on(&pr.p.data, port);

    let child = Command::new(fetch_bin())
        .arg("--config")
        .arg(&pr.config)
        .arg("once")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Watched closely: the cycle takes a second or two.
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(60);
    while files_in(&pr.import).len() < 3 {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("no files arrived: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // SIGKILL: no goodbye to the downloader.
    pr.p.server.child.kill().unwrap();
    let _ = pr.p.server.child.wait();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("could not finish"), "{stderr}");
    let before = files_in(&pr.import);
    assert!(
        before.len() < 40,
        "the kill came mid-cycle: {}",
        before.len()
    );
    // Meanwhile the clinical system takes one of them, perhaps before
    // the server heard it was downloaded.
    let taken = before.iter().next_back().unwrap().clone();
    std::fs::remove_file(pr.import.join(&taken)).unwrap();

    pr.p.server = serve_on(&pr.p.data, port);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let f = pr.once();
        if f.code == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{}", f.stderr);
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = files_in(&pr.import);
    assert_eq!(after.len(), 39, "{after:?}");
    assert!(
        !after.contains(&taken),
        "the file taken was not fetched again"
    );
    assert!(before.iter().all(|n| n == &taken || after.contains(n)));
    assert_eq!(staged(&pr.import), 0);
    let v = pr.states();
    assert_eq!(v["waiting"], serde_json::json!([]), "{v}");
    assert_eq!(v["failed"], serde_json::json!([]), "{v}");
    assert_eq!(v["downloaded"].as_array().unwrap().len(), 39);
    assert_eq!(v["imported"].as_array().unwrap().len(), 1);
    assert_eq!(v["imported"][0]["file"], taken.as_str());
    // Every file is the one the server has, byte for byte.
    for d in v["downloaded"].as_array().unwrap() {
        let name = d["file"].as_str().unwrap();
        let bytes = std::fs::read(pr.import.join(name)).unwrap();
        assert_eq!(bytes.len() as u64, d["size"].as_u64().unwrap(), "{name}");
    }
}

/// A small tmpfs at `dir`, unmounted when dropped. Needs root (as the
/// test machines and CI run).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a small tmpfs needs root; run the suite as root (CI does)"
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_the_cycle_cleanly_and_the_rest_follow_later() {
    let pr = Practice::start();
    pr.letters(6, "QZD");
    let sizes = pr.states();
    let biggest = sizes["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["size"].as_u64().unwrap())
        .max()
        .unwrap();
    // Room for two files and a half.
    let small = pr.p._dir.path().join("small");
    let _fs = Tmpfs::mount(
        &small,
        &format!("{}k", (biggest * 5 / 2).div_ceil(4096) * 4),
    );
    assert_eq!(pr.setup(&small).code, 0);

    let mut seen = BTreeSet::new();
    let mut full_said = false;
    for round in 0..10 {
        let f = pr.once();
        let now = files_in(&small);
        for n in &now {
            // A file comes once: never again after the clinical system took it.
            if !seen.insert(n.clone()) {
                panic!("{n} arrived twice (round {round})");
            }
        }
        assert_eq!(staged(&small), 0, "no half file is left (round {round})");
        if f.code == 1 {
            assert!(f.stderr.contains("disk is full"), "{}", f.stderr);
            full_said = true;
        } else {
            assert_eq!(f.code, 0, "{}", f.stderr);
        }
        if seen.len() == 6 && f.code == 0 {
            break;
        }
        // The clinical system takes what is there.
        for n in now {
            std::fs::remove_file(small.join(n)).unwrap();
        }
    }
    assert!(full_said, "the disk was full at least once");
    assert_eq!(seen.len(), 6, "{seen:?}");
    let v = pr.states();
    assert_eq!(v["waiting"], serde_json::json!([]), "{v}");
    assert_eq!(v["failed"], serde_json::json!([]), "{v}");
    // A failure was recorded in the letter's trail, with its reason.
    let trail = pr.p.api_run(
        r#"
t = login("reception@northside.example", os.environ["PW"])
out = []
for f in ["Inbox", "Downloaded"]:
    for m in api("GET", "/api/v1/folders/%s/messages?limit=200" % f, token=t)[2]["messages"]:
        out += api("GET", "/api/v1/folders/%s/messages/%d/audit" % (f, m["uid"]), token=t)[2]["events"]
print(json.dumps(out))
"#,
    );
    let failures: Vec<&Value> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "import_failed")
        .collect();
    assert!(!failures.is_empty(), "{trail}");
    assert!(
        failures[0]["detail"]
            .as_str()
            .unwrap()
            .contains("disk is full"),
        "{}",
        failures[0]
    );
}

#[test]
fn a_corrupted_download_is_never_written_and_a_changed_certificate_is_refused() {
    let pr = Practice::start();
    pr.letters(1, "QZC");
    let dir = pr.p._dir.path();
    let (cert, key) = self_signed(dir, "proxy", "localhost");
    let mut proxy = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/corrupting_proxy.py"
        ))
        .arg(&cert)
        .arg(&key)
        .arg(pr.p.server.port.to_string())
        .arg(&pr.p.ca)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(proxy.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let proxy_port = line.trim().to_string();

    // Set up through the proxy (its certificate pinned), as a practice
    // behind a bad middlebox would be.
    let s = fetch(
        &pr.config,
        &[
            "setup",
            "--server",
            &format!("https://localhost:{proxy_port}"),
            "--login",
            "reception@northside.example",
            "--token-stdin",
            "--import-folder",
            pr.import.to_str().unwrap(),
            "--trust-on-first-use",
        ],
        &format!("{}\n", pr.token),
        &[],
    );
    assert_eq!(s.code, 0, "{}", s.stderr);
    let f = pr.once();
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert_eq!(f.code, 1, "{}", f.stderr);
    assert!(f.stderr.contains("arrived damaged"), "{}", f.stderr);
    assert!(
        files_in(&pr.import).is_empty(),
        "nothing damaged is written"
    );
    assert_eq!(staged(&pr.import), 0);
    let v = pr.states();
    assert_eq!(v["failed"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["failed"][0]["failures"], 1);

    // The real server's certificate is not the one pinned: refused.
    let settings = std::fs::read_to_string(&pr.config).unwrap().replace(
        &format!("localhost:{proxy_port}"),
        &format!("localhost:{}", pr.p.server.port),
    );
    std::fs::write(&pr.config, settings).unwrap();
    let f = pr.once();
    assert_eq!(f.code, 2, "{}", f.stderr);
    assert!(f.stderr.contains("certificate changed"), "{}", f.stderr);
    assert!(files_in(&pr.import).is_empty());

    // Set up again against the real server: the file arrives whole.
    assert_eq!(pr.setup(&pr.import).code, 0);
    let f = pr.once();
    assert_eq!(f.code, 0, "{}", f.stderr);
    assert_eq!(files_in(&pr.import).len(), 1);
}

#[test]
fn a_revoked_token_stops_the_downloader_with_a_clear_message() {
    let pr = Practice::start();
    pr.letters(1, "QZR");
    assert_eq!(pr.setup(&pr.import).code, 0);
    let list = admin_ok(
        &pr.p.data,
        &["token", "list", "reception@northside.example"],
        "",
    );
    let id = list["tokens"][0]["id"].to_string();
    admin_ok(
        &pr.p.data,
        &["token", "revoke", "reception@northside.example", &id],
        "",
    );
    let f = pr.once();
    assert_eq!(f.code, 2, "{}", f.stderr);
    assert!(f.stderr.contains("revoked"), "{}", f.stderr);
    assert!(f.stderr.contains("Settings → App tokens"), "{}", f.stderr);
    assert!(files_in(&pr.import).is_empty());
    // No settings at all: said so, and how to make them.
    let none = fetch(
        &pr.p._dir.path().join("none/config.toml"),
        &["once"],
        "",
        &[],
    );
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(none.stderr.contains("athen-fetch setup"), "{}", none.stderr);
}
