//! An open mailbox's worker on a real store: it files what waits at
//! log-in, then new mail as the store announces it, and stops when the
//! last holder of the secret lets go, leaving later mail sealed in the
//! spool.

use athen_core::account::AccountKind;
use athen_core::clock::{Clock, SystemClock};
use athen_core::directory::EntryInput;
use athen_core::store::{MailboxStore, SpoolStore};
use athen_mail::live::{LiveMail, LiveParts, POLL};
use athen_store::{FsBlobStore, SqliteStore};
use athen_vault::KdfParams;
use athen_vault::accounts::{self, Registration};
use athen_vault::auth::{Authenticator, Throttle, ThrottleLimits};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_mailbox_files_mail_until_it_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("athen.db"))
            .await
            .unwrap(),
    );
    let blobs = Arc::new(FsBlobStore::open(dir.path().join("blobs")).unwrap());
    let clock = Arc::new(SystemClock);
    let params = KdfParams {
        memory_kib: 8 * 1024,
        iterations: 1,
        parallelism: 1,
    };
    let reg = Registration {
        kind: AccountKind::Individual,
        address: "anna@live.test".into(),
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
        "a long passphrase",
        params,
    )
    .await
    .unwrap();
    let mailbox = store
        .mailbox(created.created.mailbox_id)
        .await
        .unwrap()
        .unwrap();
    let spool = |i: usize| {
        let (store, blobs, mailbox) = (store.clone(), blobs.clone(), mailbox.clone());
        async move {
            let msg = format!("From: gp@x.test\r\nSubject: Letter {i}\r\n\r\nText\r\n");
            athen_mail::spool::deliver(
                blobs.as_ref(),
                store.as_ref(),
                &mailbox,
                msg.as_bytes(),
                1 << 20,
                SystemClock.now(),
            )
            .await
            .unwrap();
        }
    };
    for i in 0..5 {
        spool(i).await;
    }
    let live = LiveMail::new(
        LiveParts {
            store: store.clone(),
            blobs: blobs.clone(),
        },
        2,
    );
    store.listen_for_spool(live.clone());
    let auth = Authenticator {
        accounts: store.clone(),
        credentials: store.clone(),
        mailboxes: store.clone(),
        clock: clock.clone(),
        throttle: Throttle::new(ThrottleLimits::default()),
        params,
    };
    let unlocked = auth
        .unlock(
            "anna@live.test",
            "a long passphrase",
            None,
            athen_core::account::Doors::API,
        )
        .await
        .unwrap();
    let secret = Arc::new(unlocked.secret);
    let mut state = live.opened(&unlocked.account, &secret);
    let wait = Duration::from_secs(10);
    tokio::time::timeout(
        wait,
        state.wait_for(|s| s.first_page_ready && s.waiting == 0),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(store.count_messages(mailbox.id).await.unwrap(), 5);
    // A second session of the same mailbox shares the worker.
    let _again = live.opened(&unlocked.account, &secret);
    assert_eq!(live.open_count(), 1);

    // New mail is filed at once, announced by the store.
    let before = state.borrow_and_update().generation;
    spool(5).await;
    tokio::time::timeout(wait, state.wait_for(|s| s.generation > before))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.count_messages(mailbox.id).await.unwrap(), 6);

    // The last holder lets go: the worker stops, and mail that comes
    // after waits sealed.
    drop(secret);
    tokio::time::timeout(POLL * 3, async {
        while live.open_count() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the worker stops once the mailbox is locked");
    spool(6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.count_messages(mailbox.id).await.unwrap(), 6);
    assert_eq!(store.count_spool_entries(mailbox.id).await.unwrap(), 1);
}
