//! Load on the web app, measured with `wrk` (Debian's package) against
//! the real server over TLS on loopback: the Inbox page of a 10,000-letter
//! mailbox that is already unlocked and unspooled, and directory searches
//! over 50,000 entries, each with 50 connections at once.
//!
//!     cargo bench -p athen --bench web_load
//!
//! `ATHEN_BENCH_MESSAGES` and `ATHEN_BENCH_ENTRIES` change the sizes;
//! `ATHEN_BENCH_SECONDS` the length of each run (default 20). The data
//! is made through the store (not timed), on the real disk, in a
//! temporary folder, or in `ATHEN_BENCH_DATA` (kept, and used again by the
//! next run if it is there).

use athen_core::account::{AccountEvent, AccountKind, AccountStatus};
use athen_core::clock::{Clock, SystemClock};
use athen_core::directory::{EntryInput, EntryRole};
use athen_core::mailbox::{SpecialFolder, flags};
use athen_core::store::{AccountStore, DirectoryStore};
use athen_store::{FsBlobStore, SqliteStore};
use athen_vault::KdfParams;
use athen_vault::accounts::{self, Registration};
use athen_vault::auth::{Authenticator, Throttle, ThrottleLimits};
use std::process::Command;
use std::sync::Arc;

#[path = "support/localserve.rs"]
mod localserve;
use std::time::Instant;

const PASSWORD: &str = "benchmark password";
const FAMILY: &[&str] = &[
    "Smith", "Nguyen", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Johnson", "White",
    "Martin", "Anderson", "Thompson", "Tran", "Thomas", "Walker", "Harris", "Lee", "Ryan",
    "Robinson", "Kelly", "King", "Davis", "Wright", "Evans", "Roberts", "Green", "Hall", "Wood",
    "Jackson", "Clarke", "Patel", "Khan", "Wang", "Li", "Chen", "Zhang", "Singh", "Murphy",
    "O'Brien", "Mitchell",
];
const GIVEN: &[&str] = &[
    "Jack",
    "Oliver",
    "William",
    "Noah",
    "Thomas",
    "James",
    "Lucas",
    "Henry",
    "Charlotte",
    "Olivia",
    "Amelia",
    "Isla",
    "Mia",
    "Ava",
    "Grace",
    "Chloe",
    "Sophie",
    "Emily",
    "Ruby",
    "Zoe",
    "Minh",
    "Anh",
    "Priya",
    "Raj",
    "Mei",
    "Wei",
    "Fatima",
    "Omar",
];
const SPECIALTY: &[&str] = &[
    "General practice",
    "Cardiology",
    "Dermatology",
    "Endocrinology",
    "Gastroenterology",
    "Geriatrics",
    "Neurology",
    "Obstetrics",
    "Oncology",
    "Ophthalmology",
    "Orthopaedics",
    "Paediatrics",
    "Psychiatry",
    "Respiratory medicine",
    "Rheumatology",
    "Urology",
    "Physiotherapy",
    "Psychology",
    "Podiatry",
    "Dietetics",
];
const SUBURB: &[(&str, &str, &str)] = &[
    ("Northside", "NSW", "2999"),
    ("Parramatta", "NSW", "2150"),
    ("Newtown", "NSW", "2042"),
    ("Carlton", "VIC", "3053"),
    ("Geelong", "VIC", "3220"),
    ("Fitzroy", "VIC", "3065"),
    ("Toowong", "QLD", "4066"),
    ("Cairns", "QLD", "4870"),
    ("Glenelg", "SA", "5045"),
    ("Fremantle", "WA", "6160"),
    ("Hobart", "TAS", "7000"),
    ("Darwin", "NT", "0800"),
    ("Braddon", "ACT", "2612"),
];

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A valid Medicare provider number made from `n`: the check character
/// is found by asking the validator the server uses.
fn provider_number(n: usize) -> String {
    const LOCATION: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUVWXY";
    let stem = format!("{:06}", 200_000 + n % 700_000);
    let loc = LOCATION[n % LOCATION.len()] as char;
    b"YXWTLKJHFBA"
        .iter()
        .map(|c| format!("{stem}{loc}{}", *c as char))
        .find(|p| athen_core::identifiers::provider_number(p).is_ok())
        .expect("one check character fits")
}

fn letter(i: usize) -> Vec<u8> {
    let f = FAMILY[i % FAMILY.len()];
    let g = GIVEN[i % GIVEN.len()];
    let mut m = format!(
        "From: Dr Peter Smith <peter@northside.test>\r\nTo: reception@bench.test\r\n\
Subject: [{}, {g} (M) DOB:01/02/1960] Referral {i}\r\nMessage-ID: <bench-{i}@northside.test>\r\n\
Date: Tue, 1 Dec 2026 10:00:00 +1000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDear Dr Jones,\r\n\r\n",
        f.to_uppercase()
    )
    .into_bytes();
    m.resize(4096, b'.');
    m
}

/// Makes the data directory: one practice with `messages` letters filed in
/// its Inbox, and `entries` directory entries (staff of 100 confirmed
/// organisations).
async fn make_data(dir: &std::path::Path, messages: usize, entries: usize) {
    let store = Arc::new(SqliteStore::open(&dir.join("athen.db")).await.unwrap());
    let blobs = FsBlobStore::open(dir.join("blobs")).unwrap();
    let clock = SystemClock;
    let kdf = KdfParams::default();
    let t = Instant::now();
    let orgs = 100.min(entries.max(1));
    let mut org_ids = Vec::new();
    for o in 0..orgs {
        let (suburb, state, postcode) = SUBURB[o % SUBURB.len()];
        let reg = Registration {
            kind: AccountKind::Organisation,
            address: if o == 0 {
                "reception@bench.test".into()
            } else {
                format!("practice{o}@bench.test")
            },
            entry: EntryInput {
                organisation_name: Some(format!("{suburb} Medical Centre {o}")),
                category: Some("general-practice".into()),
                street: Some(format!("{o} Main Street")),
                suburb: Some(suburb.into()),
                state: Some(state.into()),
                postcode: Some(postcode.into()),
                ..EntryInput::default()
            },
        };
        let done = accounts::register(store.as_ref(), &clock, &reg, PASSWORD, kdf)
            .await
            .unwrap();
        store
            .set_status(
                done.created.account_id,
                AccountStatus::Confirmed,
                AccountEvent {
                    account_id: done.created.account_id,
                    at: clock.now(),
                    actor: "bench".into(),
                    event: "confirm".into(),
                    detail: String::new(),
                },
            )
            .await
            .unwrap();
        org_ids.push(done.created.account_id);
    }
    for i in orgs..entries {
        let (suburb, state, postcode) = SUBURB[(i / 7) % SUBURB.len()];
        let input = EntryInput {
            title: Some("Dr".into()),
            given_name: Some(GIVEN[(i / 3) % GIVEN.len()].into()),
            family_name: Some(format!("{}{}", FAMILY[i % FAMILY.len()], i / 1000)),
            specialty: Some(SPECIALTY[i % SPECIALTY.len()].into()),
            provider_numbers: vec![provider_number(i)],
            suburb: Some(suburb.into()),
            state: Some(state.into()),
            postcode: Some(postcode.into()),
            ..EntryInput::default()
        };
        let details = input.validate(EntryRole::Staff).unwrap();
        store
            .add_entry(org_ids[i % org_ids.len()], EntryRole::Staff, details)
            .await
            .unwrap();
    }
    eprintln!(
        "directory: {entries} entries made in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let auth = Authenticator {
        accounts: store.clone(),
        credentials: store.clone(),
        mailboxes: store.clone(),
        clock: Arc::new(SystemClock),
        throttle: Throttle::new(ThrottleLimits::default()),
        params: kdf,
    };
    let unlocked = auth
        .unlock(
            "reception@bench.test",
            PASSWORD,
            None,
            athen_core::account::Doors::API,
        )
        .await
        .unwrap();
    for i in 0..messages {
        athen_mail::submit::store_in_folder(
            &blobs,
            store.as_ref(),
            unlocked.account.mailbox_id,
            &unlocked.secret,
            (SpecialFolder::Inbox, flags::SEEN),
            &letter(i),
            clock.now() - (messages - i) as i64,
        )
        .await
        .unwrap();
    }
    eprintln!(
        "mailbox: {messages} letters filed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    store.close().await;
}

/// Signs in with Python's urllib (as the tests do) and returns the
/// session cookie.
fn sign_in(port: u16) -> String {
    let code = r#"
import os, re, ssl, http.cookiejar, urllib.request, urllib.parse
ctx = ssl._create_unverified_context()
jar = http.cookiejar.CookieJar()
o = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), urllib.request.HTTPCookieProcessor(jar))
base = "https://localhost:%s" % os.environ["PORT"]
page = o.open(base + "/login").read().decode()
token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
o.open(base + "/login", urllib.parse.urlencode({"csrf": token, "login": "reception@bench.test", "password": "benchmark password"}).encode()).read()
print([c.value for c in jar if c.name == "__Host-athen_session"][0])
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .env("PORT", port.to_string())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Runs wrk and prints its latency distribution and rate.
fn wrk(label: &str, url: &str, cookie: Option<&str>, seconds: usize) {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        "-c50",
        &format!("-d{seconds}s"),
        "--latency",
        "--timeout",
        "10s",
    ]);
    if let Some(c) = cookie {
        cmd.args(["-H", &format!("Cookie: __Host-athen_session={c}")]);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk (Debian's package) must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("== {label}: 50 connections, {seconds} s\n{text}");
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench --list: nothing to list
    }
    let messages = env_number("ATHEN_BENCH_MESSAGES", 10_000);
    let entries = env_number("ATHEN_BENCH_ENTRIES", 50_000);
    let seconds = env_number("ATHEN_BENCH_SECONDS", 20);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = match std::env::var_os("ATHEN_BENCH_DATA") {
        Some(d) => std::path::PathBuf::from(d),
        None => dir.path().join("data"),
    };
    if !data.join("athen.db").exists() {
        std::fs::create_dir_all(&data).unwrap();
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(make_data(&data, messages, entries));
    }
    // wrk is one address asking thousands of times a second.
    let (mut child, port) = localserve::start(
        env!("CARGO_BIN_EXE_athen"),
        &data,
        &["--directory-limit", "0"],
    );
    let cookie = sign_in(port);
    let base = format!("https://localhost:{port}");
    // Warm: the first Inbox page after sign-in reads the whole trail once.
    wrk("warm-up", &format!("{base}/mail/Inbox"), Some(&cookie), 2);
    wrk(
        &format!("Inbox page (newest 50 of {messages})"),
        &format!("{base}/mail/Inbox"),
        Some(&cookie),
        seconds,
    );
    wrk(
        &format!("directory search by name over {entries} entries (\"Nguyen1\")"),
        &format!("{base}/directory?name=Nguyen1"),
        None,
        seconds,
    );
    wrk(
        &format!("directory search by a common beginning over {entries} entries (\"sm\")"),
        &format!("{base}/directory?name=sm"),
        None,
        seconds,
    );
    wrk(
        &format!("directory search by specialty over {entries} entries (\"cardiology\")"),
        &format!("{base}/directory?specialty=cardiology"),
        None,
        seconds,
    );
    wrk(
        &format!("directory search by provider number over {entries} entries"),
        &format!("{base}/directory?provider={}", provider_number(4242)),
        None,
        seconds,
    );
    wrk(
        &format!("directory search by place and specialty over {entries} entries"),
        &format!("{base}/directory?place=Carlton&specialty=cardio"),
        None,
        seconds,
    );
    let _ = child.kill();
    let _ = child.wait();
}
