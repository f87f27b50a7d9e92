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

struct Fetched {
    code: i32,
    stdout: String,
    stderr: String,
}

fn fetch(config: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Fetched {
    let mut c = Command::new(fetch_bin());
    c.arg("--config")
        .arg(config)
        .args(args)
        .envs(env.iter().copied());
    let out = output_with_stdin(&mut c, stdin);
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
        Self::start_and(|_| {})
    }

    /// As [`start`](Self::start), with `more` done on the data directory
    /// before the server starts.
    fn start_and(more: impl FnOnce(&Path)) -> Practice {
        let token = std::cell::RefCell::new(String::new());
        let p = TwoPractices::start(|data| {
            takes_hl7(data, "reception@northside.example");
            *token.borrow_mut() = issue_token(data);
            more(data);
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

    /// `athen-fetch setup` for Northside against `url`, the token given
    /// as `token`, with `extra` options.
    fn setup_with(
        &self,
        config: &Path,
        url: &str,
        import: &Path,
        token: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Fetched {
        let mut args = vec![
            "setup",
            "--server",
            url,
            "--login",
            "reception@northside.example",
            "--token-stdin",
            "--import-folder",
            import.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        fetch(config, &args, &format!("{token}\n"), env)
    }

    /// `athen-fetch setup`, pinning the server's certificate.
    fn setup(&self, import: &Path) -> Fetched {
        self.setup_with(
            &self.config,
            &self.url(),
            import,
            &self.token,
            &["--trust-on-first-use"],
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
    let s = pr.setup_with(
        &other,
        &pr.url(),
        &pr.import,
        &pr.token,
        &[],
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
    let bad = pr.setup_with(
        &pr.p._dir.path().join("bad/config.toml"),
        &pr.url(),
        &pr.import,
        "athen_not-a-token",
        &["--trust-on-first-use"],
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
    pr.p.server = Server::start_on(&pr.p.data, Dns::empty(), port, &[]);

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

    pr.p.server = Server::start_on(&pr.p.data, Dns::empty(), port, &[]);
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
    let s = pr.setup_with(
        &pr.config,
        &format!("https://localhost:{proxy_port}"),
        &pr.import,
        &pr.token,
        &["--trust-on-first-use"],
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

/// A PIT file addressed to provider `provider` about John Citizen (PIT
/// v07: the addressee's provider number at columns 61–68 of line 123).
fn pit_file(provider: &str) -> String {
    let mut s = String::from(
        "001 Northside Medical                                           07 01/07/1996\r\n",
    );
    s += "100 Start Patient  :      CITIZEN,John\r\n";
    s += &format!("{:<37}{:<29}M\r\n", "104 Birthdate      :", "01/02/1960");
    s += &format!(
        "{:<60}{provider}\r\n",
        "123 Addressee      :      Dr Priya Sharma"
    );
    s += "205 Name of Test   :      LETTER\r\n";
    s += "301 Dear Dr Sharma, thank you for seeing John.\r\n999\r\n";
    s
}

#[test]
fn files_left_in_the_upload_folder_reach_the_provider_they_name_once() {
    let pr = Practice::start_and(|data| {
        admin_ok(
            data,
            &[
                "account",
                "create",
                "--kind",
                "individual",
                "--name",
                "Dr Priya Sharma",
                "--address",
                "priya@athen.localhost",
                "--provider-number",
                "2426621B",
                "--password-stdin",
            ],
            &format!("{JANE_PW}\n"),
        );
        admin_ok(data, &["account", "confirm", "priya@athen.localhost"], "");
    });
    let upload = pr.p._dir.path().join("upload");
    std::fs::create_dir(&upload).unwrap();
    let s = pr.setup_with(
        &pr.config,
        &pr.url(),
        &pr.import,
        &pr.token,
        &[
            "--trust-on-first-use",
            "--upload-folder",
            upload.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(s.code, 0, "{}", s.stderr);
    std::fs::write(upload.join("REF00001.PIT"), pit_file("2426621B")).unwrap();
    std::fs::write(
        upload.join("LETTER.HL7"),
        "MSH|^~\\&|MD|Northside||Sharma|20261201||REF^I12^REF_I12|7|P|2.4\r\
PRD|RP|Sharma^Priya^^^Dr^^L|||||2426621B^AUSHICPR^UPIN\r\
PID|1||42^^^MD^MR||CITIZEN^John||19600201|M\r",
    )
    .unwrap();
    std::fs::write(
        upload.join("Referral.rtf"),
        "{\\rtf1\\ansi Northside Medical\\par\\par Dr Priya Sharma\\par Provider No: 2426621B\\par\\par \
Re: John CITIZEN, DOB: 01/02/1960\\par\\par Dear Dr Sharma,\\par Thank you for seeing John.\\par\\par \
Yours sincerely,\\par Dr Peter Smith\\par Provider No: 0302523B\\par}",
    )
    .unwrap();
    // A provider number that is right but nobody's in the directory.
    std::fs::write(upload.join("NOBODY.PIT"), pit_file("049960CT")).unwrap();
    std::fs::write(upload.join("notes.txt"), "not for sending").unwrap();
    // Files younger than two seconds may be half written: made older.
    let age = |dir: &Path| {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                assert!(
                    Command::new("touch")
                        .args(["-d", "-1 minute"])
                        .arg(&p)
                        .status()
                        .unwrap()
                        .success()
                );
            }
        }
    };
    age(&upload);

    let f = pr.once();
    assert_eq!(f.code, 1, "one file could not be sent: {}", f.stderr);
    assert!(
        f.stderr
            .contains("sent REF00001.PIT to priya@athen.localhost"),
        "{}",
        f.stderr
    );
    assert!(
        f.stderr.contains("3 sent, 1 could not be sent"),
        "{}",
        f.stderr
    );
    assert_eq!(
        files_in(&upload.join("Sent")),
        ["LETTER.HL7", "REF00001.PIT", "Referral.rtf"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        files_in(&upload.join("Errors")),
        ["NOBODY.PIT", "NOBODY.PIT.txt"].map(String::from).into()
    );
    let note = std::fs::read_to_string(upload.join("Errors/NOBODY.PIT.txt")).unwrap();
    assert!(
        note.contains("no one with provider number 049960CT is in the ATHEN directory"),
        "{note}"
    );
    assert_eq!(
        files_in(&upload),
        ["notes.txt"].map(String::from).into(),
        "other files are left alone"
    );

    // Sent again after a crash (the file back in the folder): not twice.
    std::fs::copy(
        upload.join("Sent/REF00001.PIT"),
        upload.join("REF00001.PIT"),
    )
    .unwrap();
    age(&upload);
    let again = pr.once();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("REF00001.PIT was sent already"),
        "{}",
        again.stderr
    );
    assert!(upload.join("Sent/REF00001-2.PIT").exists());

    // Priya has three letters about John, each with its file.
    let v = pr.p.api_run(
        r#"
t = login("priya@athen.localhost", os.environ["PW"])
settled(t)
inbox = api("GET", "/api/v1/folders/Inbox/messages", token=t)[2]["messages"]
out = []
for m in inbox:
    raw = api("GET", "/api/v1/folders/Inbox/messages/%d" % m["uid"], token=t)[2]
    import email
    msg = email.message_from_bytes(raw)
    out.append({"subject": m["subject"], "from": m["from"],
                "files": sorted(p.get_filename() for p in msg.walk() if p.get_filename())})
print(json.dumps(sorted(out, key=lambda x: x["files"])))
"#,
    );
    let letters = v.as_array().unwrap();
    assert_eq!(letters.len(), 3, "{v}");
    for l in letters {
        assert!(
            l["subject"].as_str().unwrap().contains("CITIZEN, John"),
            "the patient is in the subject: {l}"
        );
        assert!(
            l["from"][0]
                .as_str()
                .unwrap()
                .contains("reception@northside.example")
        );
    }
    let files: Vec<&Value> = letters.iter().map(|l| &l["files"][0]).collect();
    assert_eq!(files, ["LETTER.HL7", "REF00001.PIT", "Referral.rtf"]);
}
