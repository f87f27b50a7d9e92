//! What the unspool benchmarks share: a store on the real disk with one
//! account, and N spooled 4 KiB referrals.

use athen_core::account::AccountKind;
use athen_core::clock::{Clock, SystemClock};
use athen_core::directory::EntryInput;
use athen_core::mailbox::Mailbox;
use athen_core::store::MailboxStore;
use athen_store::{FsBlobStore, SqliteStore};
use athen_vault::KdfParams;
use athen_vault::accounts::{self, Registration};
use athen_vault::auth::{Authenticator, Throttle, ThrottleLimits};
use std::sync::Arc;
use std::time::Instant;

pub const ADDRESS: &str = "reception@bench.test";
pub const PASSWORD: &str = "benchmark password";

/// N from `ATHEN_BENCH_MESSAGES`, else 10,000.
pub fn message_count() -> usize {
    std::env::var("ATHEN_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// A referral of 4 KiB with the patient in the ATHEN subject syntax.
pub fn letter(i: usize) -> Vec<u8> {
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

pub struct Bench {
    pub store: Arc<SqliteStore>,
    pub blobs: Arc<FsBlobStore>,
    pub clock: Arc<SystemClock>,
    pub mailbox: Mailbox,
    pub auth: Authenticator,
}

/// The store in `dir` with the benchmark's account (an individual).
pub async fn open(dir: &std::path::Path) -> Bench {
    let store = Arc::new(SqliteStore::open(&dir.join("athen.db")).await.unwrap());
    let blobs = Arc::new(FsBlobStore::open(dir.join("blobs")).unwrap());
    let clock = Arc::new(SystemClock);
    let reg = Registration {
        kind: AccountKind::Individual,
        address: ADDRESS.into(),
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
        PASSWORD,
        KdfParams::default(),
    )
    .await
    .unwrap();
    let mailbox = store
        .mailbox(created.created.mailbox_id)
        .await
        .unwrap()
        .unwrap();
    let auth = Authenticator {
        accounts: store.clone(),
        credentials: store.clone(),
        mailboxes: store.clone(),
        clock: clock.clone(),
        throttle: Throttle::new(ThrottleLimits::default()),
        params: KdfParams::default(),
    };
    Bench {
        store,
        blobs,
        clock,
        mailbox,
        auth,
    }
}

impl Bench {
    /// Spools letters `from..to`, one durable delivery each.
    pub async fn spool(&self, from: usize, to: usize) {
        let t = Instant::now();
        for i in from..to {
            athen_mail::spool::deliver(
                self.blobs.as_ref(),
                self.store.as_ref(),
                &self.mailbox,
                &letter(i),
                1 << 20,
                self.clock.now(),
            )
            .await
            .unwrap();
        }
        if to - from > 1 {
            eprintln!(
                "spooled {} messages in {:.1} s",
                to - from,
                t.elapsed().as_secs_f64()
            );
        }
    }
}
