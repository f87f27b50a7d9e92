//! The vault over the real SQLite store: registration, unlocking, throttling
//! and sessions with a clock the test controls.

use athen_core::account::{AccountKind, Doors};
use athen_core::clock::ManualClock;
use athen_core::directory::EntryInput;
use athen_core::store::MailboxStore;
use athen_store::SqliteStore;
use athen_vault::accounts::{self, Registration};
use athen_vault::auth::{Authenticator, Throttle, ThrottleLimits};
use athen_vault::sessions::{SessionLimits, Sessions, Via};
use athen_vault::{KdfParams, VaultError};
use std::sync::Arc;

const FAST: KdfParams = KdfParams {
    memory_kib: 7168,
    iterations: 1,
    parallelism: 1,
};

async fn setup(
    limits: ThrottleLimits,
) -> (
    tempfile::TempDir,
    Arc<SqliteStore>,
    Arc<ManualClock>,
    Authenticator,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db")).await.unwrap());
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let reg = Registration {
        kind: AccountKind::Individual,
        address: "jane@example.test".into(),
        entry: EntryInput {
            given_name: Some("Jane".into()),
            family_name: Some("Citizen".into()),
            ..Default::default()
        },
    };
    accounts::register(
        store.as_ref(),
        clock.as_ref(),
        &reg,
        "correct horse battery",
        FAST,
    )
    .await
    .unwrap();
    let auth = Authenticator {
        accounts: store.clone(),
        credentials: store.clone(),
        mailboxes: store.clone(),
        clock: clock.clone(),
        throttle: Throttle::new(limits),
        params: FAST,
    };
    (dir, store, clock, auth)
}

/// Jane's mailbox, unlocked with her password.
async fn jane(auth: &Authenticator) -> athen_vault::auth::Unlocked {
    auth.unlock(
        "jane@example.test",
        "correct horse battery",
        None,
        Doors::IMAP,
    )
    .await
    .unwrap()
}

/// A new app token of the login that unlocked `u`, for `doors`.
async fn issue(
    store: &Arc<SqliteStore>,
    clock: &Arc<ManualClock>,
    u: &athen_vault::auth::Unlocked,
    label: &str,
    doors: Doors,
) -> accounts::IssuedToken {
    accounts::issue_app_token(store.as_ref(), clock.as_ref(), u.into(), label, doors)
        .await
        .unwrap()
}

#[tokio::test]
async fn unlock_opens_the_mailbox_key() {
    let (_d, store, _c, auth) = setup(ThrottleLimits::default()).await;
    let u = auth
        .unlock(
            "JANE@example.test",
            "correct horse battery",
            None,
            Doors::IMAP,
        )
        .await
        .unwrap();
    let mb = store.mailbox(u.account.mailbox_id).await.unwrap().unwrap();
    assert_eq!(u.secret.public_key(), mb.public_key);
    assert!(matches!(
        auth.unlock("jane@example.test", "wrong", None, Doors::IMAP)
            .await,
        Err(VaultError::BadCredential)
    ));
    assert!(matches!(
        auth.unlock("nobody@example.test", "wrong", None, Doors::IMAP)
            .await,
        Err(VaultError::BadCredential)
    ));
}

#[tokio::test]
async fn failures_are_throttled_per_account_and_per_address() {
    let limits = ThrottleLimits {
        per_login: 3,
        per_source: 5,
        window_secs: 900,
    };
    let (_d, _s, clock, auth) = setup(limits).await;
    let ip = Some("192.0.2.7".parse().unwrap());
    for _ in 0..3 {
        assert!(matches!(
            auth.unlock("jane@example.test", "guess", ip, Doors::IMAP)
                .await,
            Err(VaultError::BadCredential)
        ));
    }
    // Even the right password is refused while throttled, so guessing gains nothing.
    assert!(matches!(
        auth.unlock(
            "jane@example.test",
            "correct horse battery",
            None,
            Doors::IMAP
        )
        .await,
        Err(VaultError::Throttled { .. })
    ));
    // Unknown names are counted the same way (no enumeration through throttling).
    for _ in 0..2 {
        let _ = auth
            .unlock("ghost@example.test", "guess", ip, Doors::IMAP)
            .await;
    }
    assert!(matches!(
        auth.unlock("other@example.test", "guess", ip, Doors::IMAP)
            .await,
        Err(VaultError::Throttled { .. })
    ));
    clock.advance(901);
    assert!(
        auth.unlock(
            "jane@example.test",
            "correct horse battery",
            ip,
            Doors::IMAP
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn sessions_expire_and_keys_go_with_the_last_one() {
    let (_d, _s, clock, auth) = setup(ThrottleLimits::default()).await;
    let sessions = Sessions::new(
        clock.clone(),
        SessionLimits {
            idle_secs: 600,
            absolute_secs: 3600,
        },
    );
    let t1 = sessions.open(jane(&auth).await, Via::Imap, None).unwrap();
    let t2 = sessions.open(jane(&auth).await, Via::Imap, None).unwrap();
    assert_eq!(sessions.unlocked_count(), 1, "one key per mailbox, shared");
    let (s, _) = sessions.get(&t1).unwrap();
    assert!(sessions.get("made-up-token").is_none());
    assert!(sessions.unlocked(s.mailbox_id).is_some());

    assert!(sessions.close(&t1));
    assert!(sessions.get(&t1).is_none());
    assert_eq!(
        sessions.unlocked_count(),
        1,
        "t2 still holds the mailbox open"
    );

    clock.advance(601);
    assert_eq!(sessions.sweep(), 1);
    assert!(sessions.get(&t2).is_none());
    assert_eq!(
        sessions.unlocked_count(),
        0,
        "idle timeout locked the mailbox"
    );

    // Absolute timeout, however busy.
    let t3 = sessions.open(jane(&auth).await, Via::Imap, None).unwrap();
    for _ in 0..7 {
        clock.advance(500);
        assert!(sessions.get(&t3).is_some(), "in use, so not idle");
    }
    clock.advance(500);
    assert!(sessions.get(&t3).is_none(), "past the absolute limit");
    assert_eq!(sessions.unlocked_count(), 0);

    let t4 = sessions.open(jane(&auth).await, Via::Imap, None).unwrap();
    let (s, _) = sessions.get(&t4).unwrap();
    assert_eq!(sessions.close_mailbox(s.mailbox_id), 1);
    assert_eq!(sessions.unlocked_count(), 0);
}

/// Two-step sign-in: a password alone no longer unlocks where no code can
/// be asked for; on the web path the code is the second step, wrong codes
/// are throttled, and no code is accepted twice. App tokens and the
/// recovery code still work alone.
#[tokio::test]
async fn two_step_sign_in_needs_a_fresh_code_after_the_password() {
    use athen_vault::auth::FirstStep;
    use athen_vault::totp::TotpKey;
    let limits = ThrottleLimits {
        per_login: 4,
        per_source: 100,
        window_secs: 900,
    };
    let (_d, store, clock, auth) = setup(limits).await;
    let u = jane(&auth).await;
    let token = issue(&store, &clock, &u, "Outlook", Doors::ANY_TOKEN).await;
    let key = TotpKey::generate().unwrap();
    let now = 1_800_000_000;
    assert!(matches!(
        accounts::enable_two_step(
            store.as_ref(),
            clock.as_ref(),
            (&u).into(),
            u.account.mailbox_id,
            &key,
            "000000x"
        )
        .await,
        Err(VaultError::BadCode)
    ));
    accounts::enable_two_step(
        store.as_ref(),
        clock.as_ref(),
        (&u).into(),
        u.account.mailbox_id,
        &key,
        &key.code_at(now),
    )
    .await
    .unwrap();
    drop(u);
    // Mail programs: the password alone is refused, the token works.
    assert!(matches!(
        auth.unlock(
            "jane@example.test",
            "correct horse battery",
            None,
            Doors::IMAP
        )
        .await,
        Err(VaultError::SecondStepNeeded)
    ));
    assert!(
        auth.unlock("jane@example.test", &token.token, None, Doors::IMAP)
            .await
            .is_ok()
    );
    // The web: the enrolment code cannot be used again to sign in.
    let first = |pw: &'static str| auth.sign_in("jane@example.test", pw, None);
    let FirstStep::CodeNeeded(half) = first("correct horse battery").await.unwrap() else {
        panic!("no second step asked for");
    };
    assert_eq!(half.login_name(), "jane@example.test");
    let failed = auth
        .second_step(half, &key.code_at(now), None)
        .await
        .unwrap_err();
    assert!(matches!(failed.error, VaultError::BadCode));
    // A wrong code, then the next step's right one.
    let failed = auth
        .second_step(failed.again.unwrap(), "123456", None)
        .await
        .unwrap_err();
    clock.advance(30);
    let code = key.code_at(now + 30);
    let u = auth
        .second_step(failed.again.unwrap(), &code, None)
        .await
        .unwrap();
    assert_eq!(u.login.name, "jane@example.test");
    // Replayed within its window: refused.
    let FirstStep::CodeNeeded(half) = first("correct horse battery").await.unwrap() else {
        panic!("no second step asked for");
    };
    assert!(matches!(
        auth.second_step(half, &code, None).await.unwrap_err().error,
        VaultError::BadCode
    ));
    // The right password does not clear the count of wrong codes: after
    // the limit, even the right code waits.
    for _ in 0..3 {
        if let Ok(FirstStep::CodeNeeded(half)) = first("correct horse battery").await {
            let _ = auth.second_step(half, "000000", None).await;
        }
    }
    assert!(matches!(
        first("correct horse battery").await,
        Err(VaultError::Throttled { .. })
    ));
    clock.advance(901);
    // Turned off, the password is enough again.
    let FirstStep::CodeNeeded(half) = first("correct horse battery").await.unwrap() else {
        panic!("no second step asked for");
    };
    let u = auth
        .second_step(half, &key.code_at(now + 931), None)
        .await
        .unwrap();
    accounts::disable_two_step(store.as_ref(), (&u).into())
        .await
        .unwrap();
    assert!(
        auth.unlock(
            "jane@example.test",
            "correct horse battery",
            None,
            Doors::IMAP
        )
        .await
        .is_ok()
    );
}

/// Issue 20, finding 2: an app token never opens the web app nor passes a
/// re-authentication, and opens only the doors it was made for.
#[tokio::test]
async fn an_app_token_opens_only_its_doors_and_never_the_web_app() {
    let (_d, store, clock, auth) = setup(ThrottleLimits::default()).await;
    let u = jane(&auth).await;
    let fetch = issue(&store, &clock, &u, "Downloader", Doors::DOWNLOADER).await;
    assert!(matches!(
        auth.sign_in("jane@example.test", &fetch.token, None).await,
        Err(VaultError::NotThisDoor(_))
    ));
    assert!(matches!(
        auth.reauthenticate("jane@example.test", &fetch.token, None, None)
            .await,
        Err(VaultError::NotThisDoor(_))
    ));
    let opened = auth
        .unlock("jane@example.test", &fetch.token, None, Doors::DOWNLOADER)
        .await
        .unwrap();
    assert_eq!(opened.doors, Doors::DOWNLOADER);
    for door in [Doors::IMAP, Doors::SUBMISSION, Doors::API] {
        assert!(matches!(
            auth.unlock("jane@example.test", &fetch.token, None, door)
                .await,
            Err(VaultError::NotThisDoor(_))
        ));
    }
    // A token with the whole API also opens the downloader's routes.
    let api = accounts::issue_app_token(
        store.as_ref(),
        clock.as_ref(),
        (&u).into(),
        "Script",
        Doors::parse("api").unwrap(),
    )
    .await
    .unwrap();
    assert!(
        auth.unlock("jane@example.test", &api.token, None, Doors::DOWNLOADER)
            .await
            .is_ok()
    );
    // No token can be given the web app or no door at all.
    assert!(
        accounts::issue_app_token(store.as_ref(), clock.as_ref(), (&u).into(), "x", Doors::WEB)
            .await
            .is_err()
    );
}

/// Issue 20, finding 3: wrong passwords slow the login down but leave its
/// downloader working, and the downloader's log-ins do not clear them.
#[tokio::test]
async fn wrong_passwords_leave_the_tokens_working_and_tokens_clear_nothing() {
    let limits = ThrottleLimits {
        per_login: 3,
        per_source: 50,
        window_secs: 900,
    };
    let (_d, store, clock, auth) = setup(limits).await;
    let u = jane(&auth).await;
    let fetch = issue(&store, &clock, &u, "Downloader", Doors::DOWNLOADER).await;
    let office = Some("192.0.2.9".parse().unwrap());
    for _ in 0..3 {
        let _ = auth
            .unlock("jane@example.test", "guess", None, Doors::IMAP)
            .await;
    }
    assert!(matches!(
        auth.unlock("jane@example.test", "guess", None, Doors::IMAP)
            .await,
        Err(VaultError::Throttled { .. })
    ));
    for _ in 0..5 {
        auth.unlock("jane@example.test", &fetch.token, office, Doors::DOWNLOADER)
            .await
            .unwrap();
    }
    // Still slowed: the token's log-ins cleared nothing.
    assert!(matches!(
        auth.unlock("jane@example.test", "guess", None, Doors::IMAP)
            .await,
        Err(VaultError::Throttled { .. })
    ));
    // Two seconds later one more try is allowed, then after four, …
    clock.advance(2);
    assert!(matches!(
        auth.unlock("jane@example.test", "guess", None, Doors::IMAP)
            .await,
        Err(VaultError::BadCredential)
    ));
    assert!(matches!(
        auth.unlock("jane@example.test", "guess", None, Doors::IMAP)
            .await,
        Err(VaultError::Throttled {
            retry_after_secs: 4
        })
    ));
}

/// Issue 20, finding 3: attempts sent at once are each counted before the
/// Argon2 work, so no more than the limit are ever checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_are_each_counted_before_they_are_checked() {
    let limits = ThrottleLimits {
        per_login: 5,
        per_source: 1000,
        window_secs: 900,
    };
    let (_d, _s, _c, auth) = setup(limits).await;
    let auth = Arc::new(auth);
    let mut tasks = Vec::new();
    for i in 0..60u8 {
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let ip = Some(std::net::IpAddr::from([198, 51, 100, i]));
            auth.unlock("jane@example.test", "guess", ip, Doors::IMAP)
                .await
        }));
    }
    let mut checked = 0;
    for t in tasks {
        match t.await.unwrap() {
            Err(VaultError::BadCredential) => checked += 1,
            Err(VaultError::Throttled { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(checked, 5);
}

/// Issue 20, finding 2: re-authentication with two-step sign-in needs the
/// code as well as the password.
#[tokio::test]
async fn reauthentication_asks_for_the_code_when_two_step_is_on() {
    use athen_vault::totp::TotpKey;
    let (_d, store, clock, auth) = setup(ThrottleLimits::default()).await;
    let u = jane(&auth).await;
    assert!(
        auth.reauthenticate("jane@example.test", "correct horse battery", None, None)
            .await
            .is_ok()
    );
    let key = TotpKey::generate().unwrap();
    let now = 1_800_000_000;
    accounts::enable_two_step(
        store.as_ref(),
        clock.as_ref(),
        (&u).into(),
        u.account.mailbox_id,
        &key,
        &key.code_at(now),
    )
    .await
    .unwrap();
    assert!(matches!(
        auth.reauthenticate("jane@example.test", "correct horse battery", None, None)
            .await,
        Err(VaultError::SecondStepNeeded)
    ));
    clock.advance(30);
    assert!(
        auth.reauthenticate(
            "jane@example.test",
            "correct horse battery",
            Some(&key.code_at(now + 30)),
            None
        )
        .await
        .is_ok()
    );
}
