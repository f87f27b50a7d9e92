//! Issue 5's figure: unspool throughput for spooled 4 KiB letters with
//! HL7 conversion on (ORU^R01 with its PDF display, attached to each
//! message; the trail's "received" and "converted" entries in the same
//! transaction as each message), on the real disk with every commit
//! fsynced. One pass over N messages is the measurement, so this is a
//! plain timed run rather than criterion's repeated samples.
//!
//! Run: `cargo bench -p athen-mail --bench unspool` (N = 10,000; set
//! `ATHEN_BENCH_MESSAGES` for another count, and `ATHEN_BENCH_NO_CONVERSION=1`
//! for the same pass without conversion). Prints messages per second.

use athen_clinical::write::Format;
use athen_core::account::AccountKind;
use athen_core::clock::{Clock, SystemClock};
use athen_core::directory::EntryInput;
use athen_core::store::MailboxStore;
use athen_mail::conversion::ConversionSetup;
use athen_store::{FsBlobStore, SqliteStore};
use athen_vault::KdfParams;
use athen_vault::accounts::{self, Registration};
use athen_vault::auth::{Authenticator, Throttle, ThrottleLimits};
use std::sync::Arc;
use std::time::Instant;

/// A referral of 4 KiB with the patient in the ATHEN subject syntax.
fn letter(i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Dr Peter Smith <peter@northside.test>\r\nTo: reception@bench.test\r\n\
Subject: [SMITH, John (M) DOB:01/02/1960 1 Main St, Northside 2000] Referral {i}\r\n\
Message-ID: <bench-{i}@northside.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Dear Dr Jones,\r\n\r\nThank you for seeing John, who has exertional chest pain.\r\n\r\n"
    )
    .into_bytes();
    while m.len() < 4000 {
        m.extend_from_slice(
            b"He has had several episodes on exertion, relieved by rest; ECG attached.\r\n",
        );
    }
    m.extend_from_slice(b"\r\nYours sincerely,\r\n\r\nDr Peter Smith\r\nProvider No: 2426621B\r\n");
    m.resize(4096, b' ');
    m
}

fn main() {
    let n: usize = std::env::var("ATHEN_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    rt.block_on(async {
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("athen.db"))
                .await
                .unwrap(),
        );
        let blobs = FsBlobStore::open(dir.path().join("blobs")).unwrap();
        let clock = Arc::new(SystemClock);
        let reg = Registration {
            kind: AccountKind::Individual,
            address: "reception@bench.test".into(),
            entry: EntryInput {
                family_name: Some("Jones".into()),
                given_name: Some("Anna".into()),
                ..Default::default()
            },
        };
        let created = accounts::register(
            store.as_ref(),
            clock.as_ref(),
            &reg,
            "benchmark password",
            KdfParams::default(),
        )
        .await
        .unwrap();
        let mailbox = store
            .mailbox(created.created.mailbox_id)
            .await
            .unwrap()
            .unwrap();
        let t = Instant::now();
        for i in 0..n {
            athen_mail::spool::deliver(
                &blobs,
                store.as_ref(),
                &mailbox,
                &letter(i),
                1 << 20,
                clock.now(),
            )
            .await
            .unwrap();
        }
        eprintln!("spooled {n} messages in {:.1} s", t.elapsed().as_secs_f64());
        let auth = Authenticator {
            accounts: store.clone(),
            credentials: store.clone(),
            mailboxes: store.clone(),
            clock: clock.clone(),
            throttle: Throttle::new(ThrottleLimits::default()),
            params: KdfParams::default(),
        };
        let unlocked = auth
            .unlock("reception@bench.test", "benchmark password", None)
            .await
            .unwrap();
        let mut setup = ConversionSetup::for_account(store.as_ref(), &unlocked.account)
            .await
            .unwrap();
        let convert = std::env::var_os("ATHEN_BENCH_NO_CONVERSION").is_none();
        setup.formats = if convert {
            vec![Format::parse("hl7-oru").unwrap()]
        } else {
            Vec::new()
        };
        let t = Instant::now();
        let report = athen_mail::unspool::unspool_mailbox(
            &blobs,
            store.as_ref(),
            store.as_ref(),
            store.as_ref(),
            mailbox.id,
            &unlocked.secret,
            &setup,
        )
        .await
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(report.moved, n);
        assert_eq!(report.converted, if convert { n } else { 0 });
        println!(
            "unspool {}: {n} messages of 4 KiB in {secs:.1} s = {:.0} messages/s",
            if convert {
                "with HL7 conversion"
            } else {
                "without conversion"
            },
            n as f64 / secs
        );
    });
}
