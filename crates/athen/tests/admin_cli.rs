//! The `athen admin` contract, exercised through the real binary.

mod common;
use common::*;
use serde_json::Value;

const PW: &str = "correct horse battery";

#[test]
fn create_individual_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let v = create_individual(dir.path(), "Jane Citizen", "Jane@Example.test", PW);
    assert_eq!(v["address"], "jane@example.test");
    assert_eq!(v["kind"], "individual");
    assert_eq!(v["status"], "provisional");
    assert_eq!(v["directory"]["given_name"], "Jane");
    assert_eq!(v["directory"]["family_name"], "Citizen");
    assert!(
        v["mailbox"]["public_key"]
            .as_str()
            .unwrap()
            .starts_with("age1")
    );
    assert_eq!(v["recovery_code"].as_str().unwrap().len(), 35);
    assert_eq!(v["confirmation_code"].as_str().unwrap().len(), 10);
    // Shown once: `show` never prints codes.
    let shown = admin_ok(dir.path(), &["account", "show", "jane@example.test"], "");
    assert!(shown.get("recovery_code").is_none() && shown.get("confirmation_code").is_none());
}

#[test]
fn bad_input_lists_every_problem_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (code, v) = admin(
        dir.path(),
        &[
            "account",
            "create",
            "--kind",
            "organisation",
            "--name",
            "Northside Medical",
            "--address",
            "not-an-address",
            "--state",
            "VIC",
            "--postcode",
            "2000",
            "--phone",
            "123",
            "--provider-number",
            "2426621A",
            "--hpi",
            "8003608833357361",
            "--password-stdin",
        ],
        "short\n",
    );
    assert_eq!(code, 2, "{v}");
    let fields: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    for f in [
        "E-mail address",
        "Postcode",
        "Phone",
        "Provider number",
        "HPI-O",
        "Password",
    ] {
        assert!(fields.contains(&f), "{f} missing from {v}");
    }
    let reasons = v["problems"].to_string();
    assert!(reasons.contains("check letter is wrong"), "{reasons}");
    assert!(
        reasons.contains("2000 is not a postcode in VIC"),
        "{reasons}"
    );
    let list = admin_ok(dir.path(), &["account", "list"], "");
    assert_eq!(list["accounts"].as_array().unwrap().len(), 0);

    // Unknown kind, missing password flag, empty stdin.
    let (code, _) = admin(
        dir.path(),
        &[
            "account",
            "create",
            "--kind",
            "robot",
            "--name",
            "X",
            "--address",
            "x@y.test",
            "--password-stdin",
        ],
        "a long passphrase\n",
    );
    assert_eq!(code, 2);
    let (code, v) = admin(
        dir.path(),
        &[
            "account",
            "create",
            "--kind",
            "individual",
            "--name",
            "X Y",
            "--address",
            "x@y.test",
        ],
        "",
    );
    assert_eq!(code, 2);
    assert!(v["error"].as_str().unwrap().contains("--password-stdin"));
    let (code, _) = admin(
        dir.path(),
        &[
            "account",
            "create",
            "--kind",
            "individual",
            "--name",
            "X Y",
            "--address",
            "x@y.test",
            "--password-stdin",
        ],
        "",
    );
    assert_eq!(code, 2);
}

#[test]
fn duplicate_address_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    create_individual(dir.path(), "Jane Citizen", "jane@example.test", PW);
    let (code, v) = admin(
        dir.path(),
        &[
            "account",
            "create",
            "--kind",
            "individual",
            "--name",
            "Other Jane",
            "--address",
            "JANE@example.test",
            "--password-stdin",
        ],
        &format!("{PW}\n"),
    );
    assert_eq!(code, 4, "{v}");
    assert!(v["error"].as_str().unwrap().contains("already in use"));
}

#[test]
fn status_life_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = create_individual(d, "Jane Citizen", "jane@example.test", PW);
    let code = v["confirmation_code"].as_str().unwrap().to_string();

    let (rc, _) = admin(
        d,
        &[
            "account",
            "confirm",
            "jane@example.test",
            "--code",
            "BBBBBBBBBB",
        ],
        "",
    );
    assert_eq!(rc, 5, "a wrong code is refused");
    let v = admin_ok(
        d,
        &[
            "account",
            "confirm",
            "jane@example.test",
            "--code",
            &code.to_lowercase(),
        ],
        "",
    );
    assert_eq!(v["status"], "confirmed");
    let (rc, _) = admin(d, &["account", "confirm", "jane@example.test"], "");
    assert_eq!(rc, 4, "already confirmed");

    admin_ok(
        d,
        &[
            "account",
            "suspend",
            "jane@example.test",
            "--reason",
            "complaint under review",
        ],
        "",
    );
    // A suspended account neither logs in nor receives mail.
    let (rc, v) = mailbox(d, "jane@example.test", PW, &["list"]);
    assert_eq!(rc, 5);
    assert!(v["error"].as_str().unwrap().contains("suspended"), "{v}");
    let (rc, _) = admin(
        d,
        &["deliver", "--to", "jane@example.test"],
        &letter("x", "y"),
    );
    assert_eq!(rc, 4);
    let v = admin_ok(d, &["account", "reinstate", "jane@example.test"], "");
    assert_eq!(v["status"], "confirmed");

    admin_ok(
        d,
        &[
            "account",
            "close",
            "jane@example.test",
            "--reason",
            "retired",
        ],
        "",
    );
    let (rc, _) = admin(d, &["account", "reinstate", "jane@example.test"], "");
    assert_eq!(rc, 4, "closed is final");

    let ev = admin_ok(d, &["account", "events", "jane@example.test"], "");
    let kinds: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "welcome-letter",
            "confirm",
            "suspend",
            "reinstate",
            "close"
        ]
    );
    assert!(ev.to_string().contains("complaint under review"));
    let (rc, _) = admin(d, &["account", "show", "nobody@example.test"], "");
    assert_eq!(rc, 3);
}

fn names(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["entry"]["display_name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn directory_search_across_organisations_and_staff() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_organisation(
        d,
        "Northside Medical",
        "reception@northside.example",
        PW,
        &[
            "--street",
            "1 High St",
            "--suburb",
            "Fitzroy",
            "--state",
            "VIC",
            "--postcode",
            "3065",
            "--category",
            "general-practice",
            "--phone",
            "03 9123 4567",
        ],
    );
    admin_ok(
        d,
        &[
            "staff",
            "add",
            "reception@northside.example",
            "--title",
            "Dr",
            "--given",
            "Anna",
            "--family",
            "Müller",
            "--position",
            "GP",
            "--provider-number",
            "2426621B",
        ],
        "",
    );
    admin_ok(
        d,
        &[
            "staff",
            "add",
            "reception@northside.example",
            "--given",
            "Sean",
            "--family",
            "O'Brien",
            "--position",
            "Practice Manager",
        ],
        "",
    );
    let v = create_individual(d, "Priya Nguyễn", "priya@specialist.example", PW);
    assert_eq!(v["directory"]["family_name"], "Nguyễn");
    admin_ok(
        d,
        &["account", "confirm", "reception@northside.example"],
        "",
    );

    // The public directory shows confirmed accounts only.
    assert_eq!(
        names(&admin_ok(d, &["directory", "--name", "priya"], "")),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&admin_ok(d, &["directory", "--name", "priya", "--all"], "")),
        ["Priya Nguyễn"]
    );
    assert_eq!(
        names(&admin_ok(
            d,
            &["directory", "--name", "nguyen", "--all"],
            ""
        )),
        ["Priya Nguyễn"]
    );

    let by_provider = admin_ok(d, &["directory", "--provider-number", "2426621b"], "");
    assert_eq!(names(&by_provider), ["Dr Anna Müller"]);
    let hit = &by_provider["results"][0];
    assert_eq!(hit["organisation"]["display_name"], "Northside Medical");
    assert_eq!(hit["address"], "reception@northside.example");

    assert_eq!(
        names(&admin_ok(d, &["directory", "--name", "muller anna"], "")),
        ["Dr Anna Müller"]
    );
    assert_eq!(
        names(&admin_ok(d, &["directory", "--name", "o'brien"], "")),
        ["Sean O'Brien"]
    );
    assert_eq!(
        names(&admin_ok(
            d,
            &["directory", "--name", "practice manager"],
            ""
        )),
        ["Sean O'Brien"]
    );
    // Staff are found by the organisation's place and category.
    let fitzroy = names(&admin_ok(d, &["directory", "--place", "fitzroy"], ""));
    assert_eq!(fitzroy.len(), 3, "{fitzroy:?}");
    assert_eq!(
        names(&admin_ok(
            d,
            &["directory", "--place", "3065", "--name", "northside"],
            ""
        )),
        ["Northside Medical"]
    );
    assert_eq!(
        admin_ok(d, &["directory", "--category", "general-practice"], "")["results"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        names(&admin_ok(d, &["directory", "--name", "%"], "")),
        Vec::<String>::new(),
        "LIKE wildcards are literal"
    );
    let (rc, _) = admin(d, &["directory", "--category", "bakery"], "");
    assert_eq!(rc, 2);

    let staff = admin_ok(d, &["staff", "list", "reception@northside.example"], "");
    assert_eq!(staff["staff"].as_array().unwrap().len(), 2);
    let (rc, _) = admin(
        d,
        &["staff", "add", "priya@specialist.example", "--family", "X"],
        "",
    );
    assert_eq!(rc, 4, "individuals have no staff");
}

#[test]
fn staff_logins_and_app_tokens_open_the_same_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_organisation(
        d,
        "Northside Medical",
        "reception@northside.example",
        PW,
        &[],
    );
    let staff = admin_ok(
        d,
        &[
            "staff",
            "add",
            "reception@northside.example",
            "--given",
            "Anna",
            "--family",
            "Müller",
        ],
        "",
    );
    let staff_id = staff["id"].to_string();
    deliver(
        d,
        "reception@northside.example",
        &letter("Referral", "Dear doctor"),
    );

    // Wrong organisation password: refused, nothing created.
    let (rc, _) = admin(
        d,
        &[
            "login",
            "add",
            "reception@northside.example",
            "--staff",
            &staff_id,
            "--password-stdin",
        ],
        "wrong password!\nanna's own password\n",
    );
    assert_eq!(rc, 5);
    let v = admin_ok(
        d,
        &[
            "login",
            "add",
            "reception@northside.example",
            "--staff",
            &staff_id,
            "--password-stdin",
        ],
        &format!("{PW}\nanna's own password\n"),
    );
    let anna = v["name"].as_str().unwrap().to_string();
    assert_eq!(anna, "reception+anna.muller@northside.example");

    let (rc, inbox) = mailbox(d, &anna, "anna's own password", &["list"]);
    assert_eq!(rc, 0, "{inbox}");
    assert_eq!(inbox["messages"][0]["subject"], "Referral");

    let t = admin_ok(
        d,
        &[
            "token",
            "issue",
            &anna,
            "--label",
            "Downloader at front desk",
            "--password-stdin",
        ],
        "anna's own password\n",
    );
    let token = t["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("athen_"));
    let (rc, _) = mailbox(d, &anna, &token, &["list"]);
    assert_eq!(rc, 0);
    // A token works only for its own login.
    let (rc, _) = mailbox(d, "reception@northside.example", &token, &["list"]);
    assert_eq!(rc, 5);
    let list = admin_ok(d, &["token", "list", "reception@northside.example"], "");
    assert_eq!(list["tokens"][0]["label"], "Downloader at front desk");
    assert!(
        list["tokens"][0]["last_used_at"].is_string(),
        "last use is recorded: {list}"
    );
    assert!(
        !list.to_string().contains(&token),
        "tokens are never listed"
    );

    admin_ok(
        d,
        &[
            "token",
            "revoke",
            "reception@northside.example",
            &t["id"].to_string(),
        ],
        "",
    );
    let (rc, _) = mailbox(d, &anna, &token, &["list"]);
    assert_eq!(rc, 5, "revoked at once");

    admin_ok(d, &["login", "disable", &anna], "");
    let (rc, _) = mailbox(d, &anna, "anna's own password", &["list"]);
    assert_eq!(rc, 5);
    let (rc, _) = admin(d, &["login", "disable", "reception@northside.example"], "");
    assert_eq!(rc, 4, "the owner's login cannot be disabled");
}

#[test]
fn password_change_and_recovery_keep_mail_reset_loses_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = create_individual(d, "Jane Citizen", "jane@example.test", PW);
    let recovery = v["recovery_code"].as_str().unwrap().to_string();
    deliver(d, "jane@example.test", &letter("First letter", "kept"));

    admin_ok(
        d,
        &[
            "credential",
            "change-password",
            "jane@example.test",
            "--password-stdin",
        ],
        &format!("{PW}\nsecond long password\n"),
    );
    let (rc, _) = mailbox(d, "jane@example.test", PW, &["list"]);
    assert_eq!(rc, 5, "old password no longer works");
    // An app token is not the password (issue 20).
    let token = admin_ok(
        d,
        &[
            "token",
            "issue",
            "jane@example.test",
            "--label",
            "Phone",
            "--password-stdin",
        ],
        "second long password\n",
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (rc, v) = admin(
        d,
        &[
            "credential",
            "change-password",
            "jane@example.test",
            "--password-stdin",
        ],
        &format!("{token}\ntaken over by a token\n"),
    );
    assert_eq!(rc, 5, "{v}");
    let (rc, inbox) = mailbox(d, "jane@example.test", "second long password", &["list"]);
    assert_eq!(rc, 0);
    assert_eq!(inbox["messages"][0]["subject"], "First letter");

    // Recovery with the code, typed sloppily.
    let typed = recovery.to_lowercase().replace('-', " ");
    let r = admin_ok(
        d,
        &[
            "credential",
            "recover",
            "jane@example.test",
            "--password-stdin",
        ],
        &format!("{typed}\nthird long password\n"),
    );
    let new_code = r["recovery_code"].as_str().unwrap().to_string();
    assert_ne!(new_code, recovery);
    let (rc, inbox) = mailbox(d, "jane@example.test", "third long password", &["list"]);
    assert_eq!(rc, 0);
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 1);
    let (rc, _) = admin(
        d,
        &[
            "credential",
            "recover",
            "jane@example.test",
            "--password-stdin",
        ],
        &format!("{recovery}\nfourth long password\n"),
    );
    assert_eq!(rc, 5, "the used recovery code is spent");

    // The last resort says what it costs, and needs --discard-mail.
    let (rc, v) = admin(
        d,
        &[
            "credential",
            "reset",
            "jane@example.test",
            "--password-stdin",
        ],
        "fresh long password\n",
    );
    assert_eq!(rc, 2);
    assert!(
        v["error"].as_str().unwrap().contains("unreadable for ever"),
        "{v}"
    );
    deliver(
        d,
        "jane@example.test",
        &letter("Second letter", "spooled, sealed to the old key"),
    );
    let v = admin_ok(
        d,
        &[
            "credential",
            "reset",
            "jane@example.test",
            "--discard-mail",
            "--password-stdin",
        ],
        "fresh long password\n",
    );
    assert_eq!(v["messages_unreadable"], 1);
    assert_eq!(v["spooled_unreadable"], 1);
    let (rc, _) = mailbox(d, "jane@example.test", "third long password", &["list"]);
    assert_eq!(rc, 5);
    let (rc, inbox) = mailbox(d, "jane@example.test", "fresh long password", &["list"]);
    assert_eq!(rc, 0);
    assert_eq!(
        inbox["messages"].as_array().unwrap().len(),
        0,
        "old mail is not readable with new keys"
    );
    // New mail reaches the new mailbox.
    deliver(
        d,
        "jane@example.test",
        &letter("Third letter", "after reset"),
    );
    let (_, inbox) = mailbox(d, "jane@example.test", "fresh long password", &["list"]);
    assert_eq!(inbox["messages"][0]["subject"], "Third letter");
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_individual(d, "Jane Citizen", "jane@example.test", PW);
    let (rc1, wrong) = mailbox(d, "jane@example.test", "not the password", &["list"]);
    let (rc2, unknown) = mailbox(d, "nobody@example.test", "not the password", &["list"]);
    assert_eq!((rc1, rc2), (5, 5));
    assert_eq!(wrong, unknown);
}

#[test]
fn operators_and_setup_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = admin_ok(
        d,
        &[
            "operator",
            "setup-link",
            "--base-url",
            "https://mail.example:8443",
        ],
        "",
    );
    assert!(
        v["url"]
            .as_str()
            .unwrap()
            .starts_with("https://mail.example:8443/setup?token=")
    );
    admin_ok(
        d,
        &[
            "operator",
            "create",
            "--login",
            "ada",
            "--name",
            "Ada Admin",
            "--password-stdin",
        ],
        "operator password 1\n",
    );
    let (rc, _) = admin(
        d,
        &[
            "operator",
            "create",
            "--login",
            "ada",
            "--name",
            "Again",
            "--password-stdin",
        ],
        "operator password 1\n",
    );
    assert_eq!(rc, 4);
    let (rc, _) = admin(d, &["operator", "setup-link"], "");
    assert_eq!(rc, 4, "no set-up link once an administrator exists");
}

#[test]
fn help_documents_the_contract() {
    let out = run(&["admin", "--help"], "");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "EXIT CODES",
        "--password-stdin",
        "--json",
        "account",
        "credential",
    ] {
        assert!(help.contains(needle), "{needle} missing from help");
    }
}
