//! The web app end to end in Debian's headless Chromium, driven by
//! Playwright (`tests/browser/e2e.mjs`) and checked with axe-core: a
//! practice registers, gets its welcome letter, confirms, signs in and
//! writes to another practice about a patient; that practice reads it on
//! a phone-sized screen with its HL7 file; the sender sees "read". The
//! screenshots go to `ATHEN_SCREENSHOTS` if set (docs/screenshots is made
//! that way), else into the test's temporary folder.
//!
//! `scripts/test` installs chromium (Debian) and the Node packages.

mod common;
use common::*;
use serde_json::{Value, json};
use std::process::Command;

#[test]
fn a_practice_joins_and_writes_to_another_in_a_real_browser() {
    let p = TwoPractices::start(|data| {
        takes_hl7(data, "jane@athen.localhost");
        admin_ok(data, &["account", "confirm", "jane@athen.localhost"], "");
        create_operator(data, "ops", "Olive Operator", "operator passphrase 1");
    });
    let shots = match std::env::var_os("ATHEN_SCREENSHOTS") {
        Some(d) => std::path::PathBuf::from(d),
        None => p._dir.path().join("shots"),
    };
    std::fs::create_dir_all(&shots).unwrap();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    let out = Command::new("node")
        .arg("e2e.mjs")
        .current_dir(dir)
        .env("BASE", format!("https://localhost:{}", p.server.port))
        .env("ATHEN", BIN)
        .env("DATA", &p.data)
        .env("SHOTS", &shots)
        .env("PASSWORD", JANE_PW)
        .output()
        .expect("node is installed (scripts/test installs the packages)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        v["error"].is_null(),
        "{}\nat {}: {}",
        v["error"].as_str().unwrap_or_default(),
        v["failed_at"],
        v["failed_text"]
    );
    let step = |name: &str| -> Value {
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s[0] == name)
            .map(|s| s[1].clone())
            .unwrap_or_else(|| panic!("no step {name}: {v}"))
    };
    let refused = step("postcode refused");
    assert!(
        refused
            .as_str()
            .unwrap()
            .contains("3000 is not a postcode in NSW"),
        "{v}"
    );
    assert_eq!(
        step("registered"),
        json!("northside.medical.centre@athen.localhost")
    );
    assert_eq!(step("letter code length"), 10);
    assert!(
        step("confirmed").as_str().unwrap().contains("confirmed"),
        "{v}"
    );
    assert_eq!(step("suggested"), json!("jane@athen.localhost"));
    let files = step("files");
    assert!(
        files
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().ends_with(".HL7")),
        "{v}"
    );
    assert_eq!(step("sent status"), json!("read"), "{v}");
    let timeline: Vec<String> = step("timeline")
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().trim().to_string())
        .collect();
    // Read once, by Jane: the sender opening its own copy is not a reading.
    assert_eq!(timeline, ["submitted", "delivered", "read"], "{v}");
    // No accessibility violations on any page.
    for (page, violations) in v["axe"].as_object().unwrap() {
        assert_eq!(violations, &json!([]), "axe-core on {page}: {violations}");
    }
    assert_eq!(step("found"), 1, "{v}");
    assert_eq!(v["axe"].as_object().unwrap().len(), 21, "{v}");
}
