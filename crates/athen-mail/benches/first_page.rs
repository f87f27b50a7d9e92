//! Issue 5's second figure: from log-in to a usable first page of the
//! Inbox with N (10,000) letters of 4 KiB waiting in the spool, HL7
//! conversion on — the password checked (Argon2id at the default cost),
//! the session opened, the mailbox's worker unspooling the newest page
//! first, and the page read and decrypted — then how long the rest takes
//! in the background. Then, with the mailbox open and idle, how long a
//! newly spooled letter takes to be listed (spool commit → store listener
//! → worker → filed → the state's generation seen by a session).
//!
//! Each figure is one pass (the first) or a short series (new mail), so
//! this is a plain timed run rather than criterion's repeated samples.
//! Run: `cargo bench -p athen-mail --bench first_page` (set
//! `ATHEN_BENCH_MESSAGES` for another N).

mod support;

use athen_clinical::write::Format;
use athen_core::store::{MailboxStore, SpoolStore};
use athen_mail::live::{LiveMail, LiveParts};
use athen_vault::sessions::{SessionLimits, Sessions};
use std::time::{Duration, Instant};

const PAGE: usize = 50;

fn main() {
    let n = support::message_count();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    rt.block_on(async {
        let b = support::open(dir.path()).await;
        let mailbox = b.mailbox.id;
        let mut settings = b.store.settings(mailbox).await.unwrap();
        settings.delivery_formats = vec![Format::parse("hl7-oru").unwrap().name()];
        b.store.set_settings(mailbox, &settings).await.unwrap();
        b.spool(0, n).await;
        let live = LiveMail::new(
            LiveParts {
                store: b.store.clone(),
                blobs: b.blobs.clone(),
            },
            PAGE,
        );
        b.store.listen_for_spool(live.clone());
        let sessions = Sessions::new(b.clock.clone(), SessionLimits::default());
        let inbox = b
            .store
            .folders(mailbox)
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.name == "Inbox")
            .unwrap();

        let t = Instant::now();
        let unlocked = b
            .auth
            .unlock(support::ADDRESS, support::PASSWORD, None, athen_core::account::Doors::API)
            .await
            .unwrap();
        let unlocked_after = t.elapsed();
        let account = unlocked.account.clone();
        let _token = sessions
            .open(unlocked, athen_vault::sessions::Via::Api, None)
            .unwrap();
        let secret = sessions.unlocked(mailbox).unwrap();
        let mut state = live.opened(&account, &secret);
        state.wait_for(|s| s.first_page_ready).await.unwrap();
        let page = athen_mail::read::page(b.store.as_ref(), mailbox, &inbox, &secret, None, PAGE as u32)
            .await
            .unwrap();
        let first_page = t.elapsed();
        assert_eq!(page.len(), PAGE);
        let newest = page[0].meta.subject.clone().unwrap_or_default();
        assert!(newest.ends_with(&format!("Referral {}", n - 1)), "{newest}");
        loop {
            let waiting = b.store.count_spool_entries(mailbox).await.unwrap();
            if waiting == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let all = t.elapsed();
        assert_eq!(b.store.count_messages(mailbox).await.unwrap(), n as u64);
        println!(
            "log-in to the first page ({PAGE} of {n} waiting, HL7 conversion on): {:.0} ms \
             (of which the password check {:.0} ms); all {n} filed after {:.1} s = {:.0} messages/s",
            first_page.as_secs_f64() * 1e3,
            unlocked_after.as_secs_f64() * 1e3,
            all.as_secs_f64(),
            n as f64 / all.as_secs_f64()
        );

        // New mail while the mailbox is open and idle.
        let mut latencies = Vec::new();
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let before = state.borrow_and_update().generation;
            let t = Instant::now();
            b.spool(n + i, n + i + 1).await;
            state.wait_for(|s| s.generation > before).await.unwrap();
            latencies.push(t.elapsed());
        }
        latencies.sort();
        println!(
            "new mail to an open mailbox, spool call to filed and announced (20 letters): \
             median {:.1} ms, max {:.1} ms",
            latencies[latencies.len() / 2].as_secs_f64() * 1e3,
            latencies[latencies.len() - 1].as_secs_f64() * 1e3
        );
        drop(secret);
        drop(sessions);
    });
}
