//! Issue 2's figures: sealing plus durable write of a 4 KiB message, opening
//! a sealed 4 KiB message, and unlocking with the default Argon2id
//! parameters (right password, wrong password, unknown user).
//!
//! Run: `cargo bench -p athen-mail --bench storage`.

use athen_core::account::AccountKind;
use athen_core::clock::{Clock, SystemClock};
use athen_core::directory::EntryInput;
use athen_core::store::MailboxStore;
use athen_store::{FsBlobStore, SqliteStore};
use athen_vault::accounts::{self, Registration};
use athen_vault::auth::{Authenticator, Throttle, ThrottleLimits};
use athen_vault::seal::{open_sealed, seal_to};
use athen_vault::{KdfParams, MailboxSecret};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::Duration;

fn message_4k() -> Vec<u8> {
    let mut m = b"From: a@b.test\r\nTo: c@d.test\r\nSubject: benchmark\r\n\r\n".to_vec();
    m.resize(4096, b'x');
    m
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // On the real disk (not a tmpfs), so that fsync costs what it costs.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let store = Arc::new(
        rt.block_on(SqliteStore::open(&dir.path().join("athen.db")))
            .unwrap(),
    );
    let blobs = FsBlobStore::open(dir.path().join("blobs")).unwrap();
    let clock = SystemClock;
    let reg = Registration {
        kind: AccountKind::Individual,
        address: "bench@example.test".into(),
        entry: EntryInput {
            family_name: Some("Bench".into()),
            ..Default::default()
        },
    };
    let created = rt
        .block_on(accounts::register(
            store.as_ref(),
            &clock,
            &reg,
            "benchmark password",
            KdfParams::default(),
        ))
        .unwrap();
    let mailbox = rt
        .block_on(store.mailbox(created.created.mailbox_id))
        .unwrap()
        .unwrap();
    let msg = message_4k();

    let mut g = c.benchmark_group("spool");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("seal_and_durable_write_4k", |b| {
        b.iter(|| {
            rt.block_on(athen_mail::spool::deliver(
                &blobs,
                store.as_ref(),
                &mailbox,
                &msg,
                1 << 20,
                clock.now(),
            ))
            .unwrap()
        })
    });
    g.bench_function("seal_only_4k", |b| {
        b.iter(|| seal_to(&mailbox.public_key, &msg).unwrap())
    });
    let secret = MailboxSecret::generate().unwrap();
    let sealed = seal_to(&secret.public_key(), &msg).unwrap();
    g.bench_function("open_sealed_4k", |b| {
        b.iter(|| open_sealed(&secret, &sealed).unwrap())
    });
    g.finish();

    let auth = Authenticator {
        accounts: store.clone(),
        credentials: store.clone(),
        mailboxes: store.clone(),
        clock: Arc::new(SystemClock),
        throttle: Throttle::new(ThrottleLimits {
            per_login: u32::MAX,
            per_source: u32::MAX,
            window_secs: 1,
        }),
        params: KdfParams::default(),
    };
    let mut g = c.benchmark_group("unlock_default_argon2id");
    g.sample_size(20);
    g.bench_function("right_password", |b| {
        b.iter(|| {
            rt.block_on(auth.unlock(
                "bench@example.test",
                "benchmark password",
                None,
                athen_core::account::Doors::API,
            ))
            .unwrap()
        })
    });
    g.bench_function("wrong_password", |b| {
        b.iter(|| {
            rt.block_on(auth.unlock(
                "bench@example.test",
                "not the password",
                None,
                athen_core::account::Doors::API,
            ))
            .unwrap_err()
        })
    });
    g.bench_function("unknown_user", |b| {
        b.iter(|| {
            rt.block_on(auth.unlock(
                "nobody@example.test",
                "not the password",
                None,
                athen_core::account::Doors::API,
            ))
            .unwrap_err()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
