//! The vault over the real SQLite store: registration, unlocking, throttling
//! and sessions with a clock the test controls.

use athen_core::account::AccountKind;
use athen_core::clock::ManualClock;
use athen_core::directory::EntryInput;
use athen_core::store::MailboxStore;
use athen_store::SqliteStore;
use athen_vault::accounts::{self, Registration};
use athen_vault::auth::{Authenticator, Throttle, ThrottleLimits};
use athen_vault::sessions::{SessionLimits, Sessions};
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

#[tokio::test]
async fn unlock_opens_the_mailbox_key() {
    let (_d, store, _c, auth) = setup(ThrottleLimits::default()).await;
    let u = auth
        .unlock("JANE@example.test", "correct horse battery", None)
        .await
        .unwrap();
    let mb = store.mailbox(u.account.mailbox_id).await.unwrap().unwrap();
    assert_eq!(u.secret.public_key(), mb.public_key);
    assert!(matches!(
        auth.unlock("jane@example.test", "wrong", None).await,
        Err(VaultError::BadCredential)
    ));
    assert!(matches!(
        auth.unlock("nobody@example.test", "wrong", None).await,
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
            auth.unlock("jane@example.test", "guess", ip).await,
            Err(VaultError::BadCredential)
        ));
    }
    // Even the right password is refused while throttled, so guessing gains nothing.
    assert!(matches!(
        auth.unlock("jane@example.test", "correct horse battery", None)
            .await,
        Err(VaultError::Throttled { .. })
    ));
    // Unknown names are counted the same way (no enumeration through throttling).
    for _ in 0..2 {
        let _ = auth.unlock("ghost@example.test", "guess", ip).await;
    }
    assert!(matches!(
        auth.unlock("other@example.test", "guess", ip).await,
        Err(VaultError::Throttled { .. })
    ));
    clock.advance(901);
    assert!(
        auth.unlock("jane@example.test", "correct horse battery", ip)
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
    let t1 = sessions
        .open(
            auth.unlock("jane@example.test", "correct horse battery", None)
                .await
                .unwrap(),
        )
        .unwrap();
    let t2 = sessions
        .open(
            auth.unlock("jane@example.test", "correct horse battery", None)
                .await
                .unwrap(),
        )
        .unwrap();
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
    let t3 = sessions
        .open(
            auth.unlock("jane@example.test", "correct horse battery", None)
                .await
                .unwrap(),
        )
        .unwrap();
    for _ in 0..7 {
        clock.advance(500);
        assert!(sessions.get(&t3).is_some(), "in use, so not idle");
    }
    clock.advance(500);
    assert!(sessions.get(&t3).is_none(), "past the absolute limit");
    assert_eq!(sessions.unlocked_count(), 0);

    let t4 = sessions
        .open(
            auth.unlock("jane@example.test", "correct horse battery", None)
                .await
                .unwrap(),
        )
        .unwrap();
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
    let u = auth
        .unlock("jane@example.test", "correct horse battery", None)
        .await
        .unwrap();
    let token = accounts::issue_app_token(store.as_ref(), clock.as_ref(), (&u).into(), "Outlook")
        .await
        .unwrap();
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
        auth.unlock("jane@example.test", "correct horse battery", None)
            .await,
        Err(VaultError::SecondStepNeeded)
    ));
    assert!(
        auth.unlock("jane@example.test", &token.token, None)
            .await
            .is_ok()
    );
    // The web: the enrolment code cannot be used again to sign in.
    let first = |pw: &'static str| auth.unlock_first_step("jane@example.test", pw, None);
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
        auth.unlock("jane@example.test", "correct horse battery", None)
            .await
            .is_ok()
    );
}
