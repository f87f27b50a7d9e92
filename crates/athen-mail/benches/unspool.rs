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

mod support;

use athen_clinical::write::Format;
use athen_mail::conversion::ConversionSetup;
use std::time::Instant;

fn main() {
    let n = support::message_count();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    rt.block_on(async {
        let b = support::open(dir.path()).await;
        b.spool(0, n).await;
        let (store, blobs, mailbox) = (&b.store, b.blobs.as_ref(), &b.mailbox);
        let unlocked = b
            .auth
            .unlock(
                support::ADDRESS,
                support::PASSWORD,
                None,
                athen_core::account::Doors::API,
            )
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
            blobs,
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
