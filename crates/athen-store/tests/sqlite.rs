//! The SQLite store and the account life cycle over it.

use athen_core::StoreError;
use athen_core::account::{
    AccountKind, AccountStatus, CredentialKind, NewCredential, StatusAction,
};
use athen_core::clock::{Clock, ManualClock};
use athen_core::directory::{DirectoryQuery, EntryDetails, EntryRole};
use athen_core::lifecycle::{ExpiryPolicy, change_status, sweep_unconfirmed};
use athen_core::mailbox::{NewStoredMessage, SpecialFolder};
use athen_core::store::*;
use athen_store::SqliteStore;

const DAY: i64 = 86_400;

fn new_account(address: &str, at: i64) -> NewAccount {
    NewAccount {
        kind: AccountKind::Individual,
        address: address.into(),
        name: address.into(),
        details: EntryDetails {
            family_name: Some(address.split('@').next().unwrap().into()),
            ..Default::default()
        },
        public_key: "age1test".into(),
        credentials: vec![NewCredential {
            kind: CredentialKind::Password,
            label: String::new(),
            wrapped: vec![1, 2, 3],
            doors: athen_core::account::Doors::PASSWORD,
        }],
        created_at: at,
        confirmation_hash: None,
    }
}

async fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("athen.db"))
        .await
        .unwrap();
    (dir, s)
}

#[tokio::test]
async fn migrations_are_idempotent_and_newer_schemas_are_refused() {
    let (dir, s) = open().await;
    s.create_account(new_account("a@x.test", 0)).await.unwrap();
    s.close().await;
    let s = SqliteStore::open(&dir.path().join("athen.db"))
        .await
        .unwrap();
    assert!(
        s.account_by_address("a@x.test").await.unwrap().is_some(),
        "data survives reopening"
    );
    s.close().await;

    // Simulate a database migrated by a newer ATHEN.
    let conn = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("athen.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)")
        .execute(&conn)
        .await
        .unwrap();
    conn.close().await;
    match SqliteStore::open(&dir.path().join("athen.db")).await {
        Err(StoreError::State(msg)) => assert!(msg.contains("newer"), "{msg}"),
        other => panic!("expected refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn account_creation_is_atomic_and_unique() {
    let (_d, s) = open().await;
    let c = s.create_account(new_account("a@x.test", 10)).await.unwrap();
    let a = s.account(c.account_id).await.unwrap().unwrap();
    assert_eq!(a.status, AccountStatus::Provisional);
    assert_eq!(a.mailbox_id, c.mailbox_id);
    let folders: Vec<String> = s
        .folders(c.mailbox_id)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(folders, SpecialFolder::ALL.map(|f| f.name().to_string()));
    assert!(matches!(
        s.create_account(new_account("a@x.test", 11)).await,
        Err(StoreError::Conflict(_))
    ));
    // The failed attempt left nothing behind.
    assert_eq!(
        s.list_accounts(&AccountFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
    let creds = s.live_credentials(c.login_id).await.unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].mailbox_id, c.mailbox_id);
}

#[tokio::test]
async fn unspool_moves_exactly_once_with_ascending_uids() {
    let (_d, s) = open().await;
    let c = s.create_account(new_account("a@x.test", 0)).await.unwrap();
    let inbox = s
        .folders(c.mailbox_id)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "Inbox")
        .unwrap();
    let e1 = s
        .add_spool_entry(c.mailbox_id, "spool/1/a", 10, 1)
        .await
        .unwrap();
    let e2 = s
        .add_spool_entry(c.mailbox_id, "spool/1/b", 20, 2)
        .await
        .unwrap();
    let msg = |key: &str| NewStoredMessage {
        mailbox_id: c.mailbox_id,
        folder_id: inbox.id,
        size: 10,
        received_at: 1,
        flags: 0,
        blob_key: key.into(),
        sealed_meta: vec![9],
        import_file: false,
    };
    // Each move brings its audit entry, in the same transaction.
    let seal = |_: usize, seq: u64, _: &athen_core::audit::ChainHash| Ok(vec![seq as u8]);
    assert_eq!(
        s.unspool(e1, msg("mail/1/a"), &[1], &seal)
            .await
            .unwrap()
            .uid,
        1
    );
    assert_eq!(
        s.unspool(e2, msg("mail/1/b"), &[2], &seal)
            .await
            .unwrap()
            .uid,
        2
    );
    // A second attempt for the same entry (e.g. after a crash) adds nothing,
    // not even to the trail.
    assert!(matches!(
        s.unspool(e1, msg("mail/1/c"), &[3], &seal).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.count_messages(c.mailbox_id).await.unwrap(), 2);
    let (anchor, trail) = s.audit_trail(c.mailbox_id).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert!(matches!(
        athen_core::audit::verify_chain(anchor, &trail),
        athen_core::audit::ChainCheck::Intact { entries: 2, .. }
    ));
    assert!(s.spool_entries(c.mailbox_id).await.unwrap().is_empty());
}

#[tokio::test]
async fn unconfirmed_accounts_are_flagged_then_closed_never_deleted() {
    let (_d, s) = open().await;
    let clock = ManualClock::new(1_800_000_000);
    let old = s
        .create_account(new_account("old@x.test", clock.now()))
        .await
        .unwrap();
    let kept = s
        .create_account(new_account("kept@x.test", clock.now()))
        .await
        .unwrap();
    let kept_account = s.account(kept.account_id).await.unwrap().unwrap();
    change_status(&s, &clock, &kept_account, StatusAction::Confirm, "test", "")
        .await
        .unwrap();
    let policy = ExpiryPolicy::default();

    clock.advance(20 * DAY);
    assert_eq!(
        sweep_unconfirmed(&s, &clock, policy)
            .await
            .unwrap()
            .flagged
            .len(),
        0
    );
    let young = s
        .create_account(new_account("young@x.test", clock.now()))
        .await
        .unwrap();

    clock.advance(2 * DAY);
    let r = sweep_unconfirmed(&s, &clock, policy).await.unwrap();
    assert_eq!(r.flagged, ["old@x.test"]);
    assert!(r.closed.is_empty());
    // Sweeping again changes nothing.
    assert_eq!(
        sweep_unconfirmed(&s, &clock, policy).await.unwrap(),
        Default::default()
    );

    clock.advance(14 * DAY);
    let r = sweep_unconfirmed(&s, &clock, policy).await.unwrap();
    assert_eq!(r.closed, ["old@x.test"]);
    assert!(r.flagged.is_empty(), "young is only 16 days old");
    let a = s.account(old.account_id).await.unwrap().unwrap();
    assert_eq!(a.status, AccountStatus::Closed);
    assert_eq!(
        s.account(kept.account_id).await.unwrap().unwrap().status,
        AccountStatus::Confirmed
    );
    assert_eq!(
        s.account(young.account_id).await.unwrap().unwrap().status,
        AccountStatus::Provisional
    );
    // Its mailbox, entry and history are all still there.
    assert!(s.mailbox(a.mailbox_id).await.unwrap().is_some());
    assert!(s.entry(a.entry_id).await.unwrap().is_some());
    let events: Vec<String> = s
        .events(old.account_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["created", "flagged", "close"]);

    clock.advance(6 * DAY);
    assert_eq!(
        sweep_unconfirmed(&s, &clock, policy).await.unwrap().flagged,
        ["young@x.test"]
    );
    // Confirming a flagged account clears the flag.
    let y = s.account(young.account_id).await.unwrap().unwrap();
    change_status(&s, &clock, &y, StatusAction::Confirm, "test", "")
        .await
        .unwrap();
    assert!(
        s.account(young.account_id)
            .await
            .unwrap()
            .unwrap()
            .flagged_at
            .is_none()
    );
}

#[tokio::test]
async fn search_is_limited_and_ordered() {
    let (_d, s) = open().await;
    for i in 0..30 {
        let c = s
            .create_account(new_account(&format!("p{i:02}@x.test"), 0))
            .await
            .unwrap();
        let a = s.account(c.account_id).await.unwrap().unwrap();
        change_status(&s, &ManualClock::new(0), &a, StatusAction::Confirm, "t", "")
            .await
            .unwrap();
    }
    let hits = s
        .search(&DirectoryQuery {
            name: Some("p".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(hits.len(), 10);
    let names: Vec<_> = hits
        .iter()
        .map(|h| h.entry.details.family_name.clone().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(hits[0].entry.role, EntryRole::Individual);
    // Punctuation separates words and is never a wildcard: "p__" is
    // the word "p"; "%_" has no word, and finds nothing.
    let found = |name: &str| {
        let q = DirectoryQuery {
            name: Some(name.into()),
            limit: 10,
            ..Default::default()
        };
        let s = &s;
        async move {
            s.search(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|h| h.entry.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("p__").await, found("p").await);
    assert!(found("%_").await.is_empty());
    assert_eq!(found("P1").await.len(), 10, "p10 to p19 begin with it");
    assert!(found("00").await.is_empty(), "not the middle of a word");
}

#[tokio::test]
async fn staff_entries_with_live_logins_cannot_be_removed() {
    let (_d, s) = open().await;
    let c = s
        .create_account(new_account("org@x.test", 0))
        .await
        .unwrap();
    let staff = s
        .add_entry(
            c.account_id,
            EntryRole::Staff,
            EntryDetails {
                family_name: Some("Smith".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let cred = NewCredential {
        kind: CredentialKind::Password,
        label: String::new(),
        wrapped: vec![7],
        doors: athen_core::account::Doors::PASSWORD,
    };
    let (login, _) = s
        .add_login(c.account_id, "smith@x.test", Some(staff), cred.clone(), 0)
        .await
        .unwrap();
    assert!(matches!(
        s.add_login(c.account_id, "smith@x.test", None, cred, 0)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.remove_entry(staff).await,
        Err(StoreError::State(_))
    ));
    assert!(
        matches!(s.remove_entry(c.entry_id).await, Err(StoreError::State(_))),
        "the account's own entry stays"
    );
    s.disable_login(login, 1).await.unwrap();
    assert!(
        s.live_credentials(login).await.unwrap().is_empty(),
        "disabling revokes"
    );
    s.remove_entry(staff).await.unwrap();
    assert!(s.entry(staff).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spool_writes_are_group_committed_and_fail_alone() {
    let (_d, s) = open().await;
    let c = s.create_account(new_account("a@x.test", 0)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = s.clone();
        // Every tenth names a mailbox that does not exist (a foreign key
        // violation): it must fail without taking its batch with it.
        let mailbox = if i % 10 == 7 {
            athen_core::MailboxId(999_999)
        } else {
            c.mailbox_id
        };
        tasks.push(tokio::spawn(async move {
            s.add_spool_entries(&[(mailbox, format!("spool/1/{i}"))], 10, 1)
                .await
        }));
    }
    let mut ok = 0;
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(ids) => {
                assert_eq!(ids.len(), 1);
                ok += 1
            }
            Err(_) => failed += 1,
        }
    }
    assert_eq!((ok, failed), (180, 20));
    let entries = s.spool_entries(c.mailbox_id).await.unwrap();
    assert_eq!(entries.len(), 180);
    let mut ids: Vec<i64> = entries.iter().map(|e| e.id.0).collect();
    ids.dedup();
    assert_eq!(ids.len(), 180, "every message has its own entry");
}

/// The words index follows every change of an entry: a new name is
/// found and the old one is not, a removed entry is gone; short words,
/// words longer than a key, punctuation and shared keys are found right.
#[tokio::test]
async fn search_follows_edits_and_removals() {
    let (_d, s) = open().await;
    let c = s
        .create_account(new_account("renamed@x.test", 0))
        .await
        .unwrap();
    let a = s.account(c.account_id).await.unwrap().unwrap();
    change_status(&s, &ManualClock::new(0), &a, StatusAction::Confirm, "t", "")
        .await
        .unwrap();
    let find = |name: Option<&str>, specialty: Option<&str>| {
        let q = DirectoryQuery {
            name: name.map(String::from),
            specialty: specialty.map(String::from),
            ..Default::default()
        };
        let s = &s;
        async move { s.search(&q).await.unwrap().len() }
    };
    assert_eq!(find(Some("renamed"), None).await, 1);
    s.update_entry(
        a.entry_id,
        EntryDetails {
            family_name: Some("Zhou".into()),
            given_name: Some("Li".into()),
            specialty: Some("Cardiology".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(find(Some("renamed"), None).await, 0);
    assert_eq!(find(Some("ZHOU"), None).await, 1);
    assert_eq!(find(Some("li zhou"), None).await, 1, "a two-letter word");
    assert_eq!(find(None, Some("cardio")).await, 1);
    assert_eq!(find(None, Some("Cardiolog")).await, 1, "longer than a key");
    assert_eq!(find(None, Some("cardiologist")).await, 0);
    assert_eq!(find(None, Some("derm")).await, 0);
    let add_staff = |family: &str| {
        let details = EntryDetails {
            family_name: Some(family.into()),
            ..Default::default()
        };
        let s = &s;
        async move { s.add_entry(a.id, EntryRole::Staff, details).await.unwrap() }
    };
    let staff = add_staff("Okafor").await;
    assert_eq!(find(Some("okafor"), None).await, 1);
    s.remove_entry(staff).await.unwrap();
    assert_eq!(find(Some("okafor"), None).await, 0);
    // An apostrophe or hyphen typed or not.
    let irish = add_staff("O'Brien-Kelly").await;
    for typed in ["o'brien", "OBRIEN", "brien kel", "o'brien-kelly"] {
        assert_eq!(find(Some(typed), None).await, 1, "{typed}");
    }
    s.remove_entry(irish).await.unwrap();
    // A word typed that begins two of a name's words finds it once.
    let twice = add_staff("Ng Nguyen").await;
    assert_eq!(find(Some("ng"), None).await, 1);
    assert_eq!(find(Some("nguyen ng"), None).await, 1);
    s.remove_entry(twice).await.unwrap();
    assert_eq!(find(Some("ng"), None).await, 0);
}

/// Staff without a place or kind of service of their own are found by
/// their organisation's, and follow it when it moves; their own stays.
#[tokio::test]
async fn staff_are_found_by_their_organisations_place_and_follow_it() {
    use athen_core::directory::Category;
    use athen_core::identifiers::State;
    let (_d, s) = open().await;
    let mut org = new_account("clinic@x.test", 0);
    org.kind = AccountKind::Organisation;
    org.details = EntryDetails {
        organisation_name: Some("Clinic".into()),
        suburb: Some("Carlton".into()),
        postcode: Some("3053".into()),
        state: Some(State::Vic),
        category: Some(Category::GeneralPractice),
        ..Default::default()
    };
    let c = s.create_account(org).await.unwrap();
    let a = s.account(c.account_id).await.unwrap().unwrap();
    change_status(&s, &ManualClock::new(0), &a, StatusAction::Confirm, "t", "")
        .await
        .unwrap();
    let person = |family: &str, suburb: Option<&str>| EntryDetails {
        family_name: Some(family.into()),
        suburb: suburb.map(String::from),
        ..Default::default()
    };
    s.add_entry(a.id, EntryRole::Staff, person("Okafor", None))
        .await
        .unwrap();
    s.add_entry(a.id, EntryRole::Staff, person("Lee", Some("Fitzroy")))
        .await
        .unwrap();
    let names = |name: Option<&str>, place: Option<&str>, category: Option<Category>| {
        let q = DirectoryQuery {
            name: name.map(String::from),
            place: place.map(String::from),
            category,
            ..Default::default()
        };
        let s = &s;
        async move {
            s.search(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|h| h.entry.details.display_name())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        names(None, Some("carlton"), None).await,
        ["Clinic", "Okafor"]
    );
    assert_eq!(
        names(None, Some("3053"), None).await,
        ["Clinic", "Lee", "Okafor"]
    );
    assert_eq!(names(None, Some("Fitzroy"), None).await, ["Lee"]);
    assert_eq!(
        names(None, None, Some(Category::GeneralPractice)).await,
        ["Clinic", "Lee", "Okafor"]
    );
    // A word with a place: the words index carries the place too.
    assert_eq!(names(Some("oka"), Some("carlton"), None).await, ["Okafor"]);
    assert_eq!(
        names(Some("lee"), Some("carlton"), None).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names(Some("o"), None, Some(Category::GeneralPractice)).await,
        ["Okafor"]
    );
    // The clinic moves: Okafor goes with it, Lee keeps Fitzroy.
    s.update_entry(
        a.entry_id,
        EntryDetails {
            organisation_name: Some("Clinic".into()),
            suburb: Some("Brunswick".into()),
            postcode: Some("3056".into()),
            state: Some(State::Vic),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        names(None, Some("carlton"), None).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names(None, Some("brunswick"), None).await,
        ["Clinic", "Okafor"]
    );
    assert_eq!(names(None, Some("Fitzroy"), None).await, ["Lee"]);
    assert_eq!(
        names(None, Some("3056"), None).await,
        ["Clinic", "Lee", "Okafor"]
    );
    assert_eq!(
        names(None, None, Some(Category::GeneralPractice)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names(Some("oka"), Some("carlton"), None).await,
        Vec::<String>::new()
    );
    assert_eq!(names(Some("oka"), Some("3056"), None).await, ["Okafor"]);
    assert_eq!(
        names(Some("clinic"), Some("brunswick"), None).await,
        ["Clinic"]
    );
    assert_eq!(
        names(Some("o"), None, Some(Category::GeneralPractice)).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn import_files_move_by_state_and_go_with_their_message() {
    use athen_core::mailbox::ImportState::*;
    let (_d, s) = open().await;
    let c = s.create_account(new_account("a@x.test", 0)).await.unwrap();
    let other = s.create_account(new_account("b@x.test", 0)).await.unwrap();
    let folders = s.folders(c.mailbox_id).await.unwrap();
    let id_of = |name: &str| folders.iter().find(|f| f.name == name).unwrap().id;
    let (inbox, downloaded, trash) = (id_of("Inbox"), id_of("Downloaded"), id_of("Trash"));
    let add = |key: &str, import_file: bool| NewStoredMessage {
        mailbox_id: c.mailbox_id,
        folder_id: inbox,
        size: 10,
        received_at: 5,
        flags: 0,
        blob_key: key.into(),
        sealed_meta: vec![9],
        import_file,
    };
    let one = s.add_message(add("mail/1/a", true)).await.unwrap();
    let _plain = s.add_message(add("mail/1/b", false)).await.unwrap();
    let two = s.add_message(add("mail/1/c", true)).await.unwrap();
    let ids = |rows: Vec<athen_core::mailbox::ImportFileRow>| -> Vec<i64> {
        rows.iter().map(|r| r.message.id.0).collect()
    };
    let waiting = s
        .import_files(c.mailbox_id, &[Waiting, Failed], Some(trash), None, 10)
        .await
        .unwrap();
    assert_eq!(ids(waiting.clone()), [one.id.0, two.id.0]);
    assert_eq!((waiting[0].state, waiting[0].failures), (Waiting, 0));
    // Paged by id; another mailbox sees none of them.
    let page = s
        .import_files(c.mailbox_id, &[Waiting], None, Some(one.id), 1)
        .await
        .unwrap();
    assert_eq!(ids(page), [two.id.0]);
    assert!(
        s.import_files(other.mailbox_id, &[Waiting], None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.import_file(other.mailbox_id, one.id).await.unwrap(), None);

    // Downloaded: moved from the Inbox to Downloaded with a new UID, in
    // the same step; a second change from "waiting" finds nothing to do.
    let done = s
        .set_import_state(
            c.mailbox_id,
            one.id,
            Waiting,
            Downloaded,
            Some((inbox, downloaded)),
            7,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((done.state, done.changed_at), (Downloaded, 7));
    assert_eq!(done.message.folder_id, downloaded);
    assert_eq!(
        s.set_import_state(
            c.mailbox_id,
            one.id,
            Waiting,
            Downloaded,
            Some((inbox, downloaded)),
            8
        )
        .await
        .unwrap(),
        None
    );
    // Failures are counted; a letter in the Trash is not offered.
    for n in 1..=2 {
        let from = if n == 1 { Waiting } else { Failed };
        let f = s
            .set_import_state(c.mailbox_id, two.id, from, Failed, None, 9)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.failures, n);
        assert_eq!(f.message.folder_id, inbox);
    }
    s.move_message(c.mailbox_id, two.id, trash).await.unwrap();
    assert!(
        s.import_files(c.mailbox_id, &[Failed], Some(trash), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Deleted for good, the file goes with it.
    s.delete_message(c.mailbox_id, two.id).await.unwrap();
    assert_eq!(s.import_file(c.mailbox_id, two.id).await.unwrap(), None);
    assert!(
        s.set_import_state(c.mailbox_id, two.id, Failed, Failed, None, 9)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn mod_sequences_tell_every_change_and_what_went_away() {
    use athen_core::mailbox::{FlagChange, flags};
    let (_d, s) = open().await;
    let c = s.create_account(new_account("a@x.test", 0)).await.unwrap();
    let mb = c.mailbox_id;
    let folders = s.folders(mb).await.unwrap();
    let named = |n: &str| folders.iter().find(|f| f.name == n).unwrap().clone();
    let (inbox, archive) = (named("Inbox"), named("Archive"));
    assert_eq!(inbox.highest_modseq, 1);
    let highest = |f: athen_core::FolderId| {
        let s = &s;
        async move {
            s.folders(mb)
                .await
                .unwrap()
                .into_iter()
                .find(|x| x.id == f)
                .unwrap()
                .highest_modseq
        }
    };
    let mut ids = Vec::new();
    for i in 0..4 {
        let m = s
            .add_message(NewStoredMessage {
                mailbox_id: mb,
                folder_id: inbox.id,
                size: 100 + i,
                received_at: 1,
                flags: 0,
                blob_key: format!("mail/1/{i}"),
                sealed_meta: vec![1],
                import_file: false,
            })
            .await
            .unwrap();
        ids.push(m.id);
        assert_eq!(m.modseq, 2 + i, "each filing takes the next");
    }
    assert_eq!(highest(inbox.id).await, 5);
    assert_eq!(s.mailbox_usage(mb).await.unwrap(), 100 + 101 + 102 + 103);

    // One change, one mod-sequence; a message already so is not changed.
    let r = s
        .store_flags(
            mb,
            inbox.id,
            &[1, 2, 99],
            FlagChange::Add(flags::SEEN),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.changed.iter().map(|e| e.uid).collect::<Vec<_>>(), [1, 2]);
    assert!(
        r.changed
            .iter()
            .all(|e| e.modseq == 6 && e.flags == flags::SEEN)
    );
    let again = s
        .store_flags(mb, inbox.id, &[1], FlagChange::Add(flags::SEEN), None)
        .await
        .unwrap();
    assert!(again.changed.is_empty() && again.modified.is_empty());
    assert_eq!(highest(inbox.id).await, 6, "nothing changed, nothing taken");
    // UNCHANGEDSINCE: UID 1 changed at 6, after 5; UID 3 did not.
    let r = s
        .store_flags(
            mb,
            inbox.id,
            &[1, 3],
            FlagChange::Replace(flags::FLAGGED),
            Some(5),
        )
        .await
        .unwrap();
    assert_eq!(r.modified, [1]);
    assert_eq!(r.changed.len(), 1);
    assert_eq!((r.changed[0].uid, r.changed[0].flags), (3, flags::FLAGGED));

    // Moving: new UIDs in the target, the old ones recorded as gone.
    let moved = s
        .move_messages(mb, inbox.id, &[2, 3], archive.id)
        .await
        .unwrap();
    assert_eq!(moved, [(2, 1), (3, 2)]);
    let index = s.folder_index(mb, archive.id).await.unwrap();
    assert_eq!(index.len(), 2);
    assert_eq!(index[1].flags, flags::FLAGGED, "flags travel");
    assert_eq!(s.expunged_since(mb, inbox.id, 7).await.unwrap(), [2, 3]);
    assert!(s.expunged_since(mb, inbox.id, 8).await.unwrap().is_empty());

    // Expunging: one transaction, blob keys back for the caller.
    let gone = s.expunge(mb, inbox.id, &[1, 4, 50]).await.unwrap();
    assert_eq!(
        gone,
        [(1, "mail/1/0".to_string()), (4, "mail/1/3".to_string())]
    );
    assert_eq!(s.expunged_since(mb, inbox.id, 8).await.unwrap(), [1, 4]);
    assert!(s.folder_index(mb, inbox.id).await.unwrap().is_empty());
    assert_eq!(
        s.messages_in_uid_range(mb, archive.id, 2, u32::MAX)
            .await
            .unwrap()
            .len(),
        1
    );
    // The single-message calls keep the same books.
    let before = highest(archive.id).await;
    s.delete_message(mb, ids[1]).await.unwrap();
    assert!(highest(archive.id).await > before);
    assert_eq!(s.expunged_since(mb, archive.id, before).await.unwrap(), [1]);
}
