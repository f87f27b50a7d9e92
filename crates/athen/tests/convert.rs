//! `athen convert`: real letter files through the real binary.

mod common;
use common::*;
use serde_json::Value;

fn letter(name: &str) -> String {
    format!("{}/tests/letters/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn convert_json(file: &str) -> Value {
    let out = run(
        &["convert", file, "--to", "json", "--today", "2026-11-24"],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn a_text_referral_gives_its_patient_author_and_recipient() {
    let v = convert_json(&letter("referral.txt"));
    assert_eq!(v["schema"], "athen.convert.v1");
    assert_eq!(v["input"], "text");
    let p = &v["patient"];
    assert_eq!(p["family_name"]["value"], "O'BRIEN");
    assert_eq!(p["given_names"]["value"], "Seán");
    assert_eq!(p["title"]["value"], "Mr");
    assert_eq!(p["birth_date"]["value"], "1960-02-01");
    assert_eq!(p["birth_date"]["source"]["line"], 14);
    assert_eq!(p["birth_date"]["confidence"], "medium");
    assert_eq!(p["address"]["value"]["state"], "NSW");
    assert_eq!(p["medicare"]["value"]["number"], "2123456701");
    assert_eq!(p["phone"]["value"], "0412345678");
    assert_eq!(v["letter_date"]["value"], "2026-11-24");
    assert_eq!(v["author"]["value"]["provider_number"], "2426621B");
    assert_eq!(v["recipient"]["value"]["family_name"], "Müller");
    assert_eq!(v["problems"], serde_json::json!([]));
    assert!(v.get("not_possible").is_none());
}

#[test]
fn an_html_letter_with_a_table_and_a_bad_medicare_number() {
    let v = convert_json(&letter("referral.html"));
    assert_eq!(v["input"], "html");
    assert_eq!(v["patient"]["family_name"]["value"], "SMITH-JONES");
    assert_eq!(v["patient"]["birth_date"]["value"], "1975-04-03");
    assert!(v["patient"].get("medicare").is_none(), "failed its check");
    assert_eq!(v["problems"][0]["field"], "patient.medicare");
    assert_eq!(v["problems"][0]["found"], "2123 45671 1");
    assert!(
        v["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("check digit")
    );
}

#[test]
fn two_patients_are_not_possible_and_bad_files_are_refused() {
    let v = convert_json(&letter("two-patients.txt"));
    let why = v["not_possible"].as_str().unwrap();
    assert!(why.starts_with("not possible, because"), "{why}");
    assert!(why.contains("SMITH") && why.contains("BROWN"), "{why}");

    let out = run(&["convert", "/nonexistent.txt", "--to", "json"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let out = run(
        &[
            "convert",
            &letter("referral.txt"),
            "--to",
            "json",
            "--today",
            "soon",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
}
