//! The letter corpus (tests/letters/: fictional letters in the layouts and
//! formats Australian senders use, written by several generators, with the
//! truth of each) read as `athen convert --to json` reads it, and scored
//! field by field.
//!
//! Two rules: no letter may ever be filed against a wrong patient, and no
//! measure may fall below what tests/letters/ratchet.json records (raise
//! the ratchet when the reading gets better; never lower it to pass).
//!
//! `cargo test -p athen-clinical --test letters -- --nocapture` prints the
//! tables by format, by generator and by kind, and every letter that misses.

use athen_clinical::convert::{self, Conversion};
use athen_clinical::date::Date;
use athen_clinical::extract::Context;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/letters")
}

/// The measures, in the order the tables show them.
const MEASURES: [&str; 16] = [
    "patient exact",
    "converted",
    "wrong patient",
    "family name",
    "given names",
    "birth date",
    "sex",
    "address",
    "state",
    "phone",
    "medicare",
    "dva / ihi",
    "recipient name",
    "author name",
    "author provider no",
    "letter date",
];

/// Counts of one measure: right out of stated.
#[derive(Default, Clone, Copy)]
struct Score {
    right: u32,
    of: u32,
}

type Scores = BTreeMap<&'static str, Score>;

fn norm(v: &Value) -> String {
    match v {
        Value::String(s) => s
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn value<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut at = v;
    for p in path {
        at = &at[*p];
    }
    at
}

/// A found value's `value`, or Null.
fn found<'a>(out: &'a Value, path: &[&str]) -> &'a Value {
    &value(out, path)["value"]
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Number(x), Value::Number(y)) => x == y,
        _ => norm(a) == norm(b),
    }
}

/// Adds one letter's scores to a group's.
fn add(to: &mut Scores, from: &Scores) {
    for (m, sc) in from {
        let e = to.entry(m).or_default();
        e.right += sc.right;
        e.of += sc.of;
    }
}

/// Scores one letter, with what it missed for the report.
fn score(truth: &Value, out: &Value) -> (Scores, Vec<String>) {
    let mut scores = Scores::new();
    let s = &mut scores;
    let mut missed = Vec::new();
    let mut invented = Vec::new();
    let mut mark = |s: &mut Scores, name: &'static str, ok: bool, what: String| {
        let e = s.entry(name).or_default();
        e.of += 1;
        if ok {
            e.right += 1;
        } else {
            missed.push(format!("{name}: {what}"));
        }
    };
    let not_possible = out.get("not_possible").is_some();
    let p = &truth["patient"];
    if p.is_null() {
        // The letter must not be converted at all.
        mark(
            s,
            "patient exact",
            not_possible,
            "converted a letter that cannot be".into(),
        );
        s.entry("wrong patient").or_default().of += 1;
        if !not_possible {
            s.entry("wrong patient").or_default().right += 1;
        }
    } else {
        let fields = [
            ("family_name", "family name"),
            ("given_names", "given names"),
            ("birth_date", "birth date"),
            ("sex", "sex"),
            ("address", "address"),
            ("phone", "phone"),
            ("medicare", "medicare"),
            ("dva", "dva / ihi"),
            ("ihi", "dva / ihi"),
        ];
        let mut exact = !not_possible;
        for (key, measure) in fields {
            let want = &p[key];
            let got = found(out, &["patient", key]);
            if want.is_null() {
                // Not stated: anything found is invented.
                if !got.is_null() {
                    exact = false;
                    invented.push(format!("invented {key}: {got}"));
                }
                continue;
            }
            let ok = same(want, got);
            exact &= ok;
            mark(s, measure, ok, format!("want {want}, got {got}"));
        }
        if let Some(state) = p["address"].get("state") {
            let got = found(out, &["patient", "address"])
                .get("state")
                .unwrap_or(&Value::Null);
            mark(
                s,
                "state",
                same(state, got),
                format!("want {state}, got {got}"),
            );
        }
        let why = out["not_possible"].as_str().unwrap_or_default().to_string();
        mark(s, "patient exact", exact, "not every field right".into());
        mark(s, "converted", !not_possible, why);
        // Filed against a wrong patient: converted, and who differs.
        let who_right = ["family_name", "given_names", "birth_date"]
            .iter()
            .all(|k| same(&p[*k], found(out, &["patient", k])));
        let e = s.entry("wrong patient").or_default();
        e.of += 1;
        if !not_possible && !who_right {
            e.right += 1;
        }
    }
    for (party, measure) in [("recipient", "recipient name"), ("author", "author name")] {
        let want = &truth[party];
        let got = found(out, &[party]);
        let ok = ["family_name", "given_names"]
            .iter()
            .all(|k| want[*k].is_null() || norm(&want[*k]) == norm(&got[*k]));
        mark(s, measure, ok, format!("want {want}, got {got}"));
    }
    if let Some(want) = truth["author"].get("provider_number") {
        let got = &found(out, &["author"])["provider_number"];
        mark(
            s,
            "author provider no",
            norm(want) == norm(got),
            format!("want {want}, got {got}"),
        );
    }
    let got = found(out, &["letter_date"]);
    mark(
        s,
        "letter date",
        same(&truth["letter_date"], got),
        format!("want {}, got {got}", truth["letter_date"]),
    );
    missed.extend(invented);
    (scores, missed)
}

fn table(title: &str, groups: &BTreeMap<String, Scores>) -> String {
    let mut out = format!("\n{title}\n| measure |");
    for g in groups.keys() {
        out.push_str(&format!(" {g} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(groups.len()));
    for m in MEASURES {
        out.push_str(&format!("\n| {m} |"));
        for s in groups.values() {
            match s.get(m) {
                Some(sc) if sc.of > 0 => out.push_str(&format!(" {}/{} |", sc.right, sc.of)),
                _ => out.push_str(" – |"),
            }
        }
    }
    out.push('\n');
    out
}

fn convert_file(path: &Path) -> Conversion {
    let bytes = std::fs::read(path).expect("corpus file");
    let name = path.file_name().unwrap().to_string_lossy();
    let kind = convert::input_kind(&name, &bytes).expect("a kind of letter we read");
    let ctx = Context {
        today: Date::new(2026, 12, 8).unwrap(),
        author: None,
        recipient: None,
        sent: None,
    };
    convert::convert(kind, &bytes, &ctx)
}

#[test]
fn the_corpus_is_read_and_no_letter_goes_to_a_wrong_patient() {
    let truth: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir().join("truth.json")).unwrap()).unwrap();
    assert!(truth.len() >= 80, "the corpus has at least 80 letters");
    let mut all = Scores::new();
    let mut by_format: BTreeMap<String, Scores> = BTreeMap::new();
    let mut by_generator: BTreeMap<String, Scores> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, Scores> = BTreeMap::new();
    let mut report = String::new();
    for t in &truth {
        let file = t["file"].as_str().unwrap();
        let conversion = convert_file(&dir().join("files").join(file));
        let out = serde_json::to_value(&conversion).unwrap();
        // LETTERS_SHOW=<file> prints that letter as read, to see a miss.
        if std::env::var("LETTERS_SHOW").is_ok_and(|f| f == file) {
            for (i, l) in conversion.body.lines().iter().enumerate() {
                println!("{:3} {l:?}", i + 1);
            }
            println!("{}", serde_json::to_string_pretty(&out["patient"]).unwrap());
        }
        let (scores, missed) = score(t, &out);
        add(&mut all, &scores);
        for (groups, key) in [
            (&mut by_format, "format"),
            (&mut by_generator, "generator"),
            (&mut by_kind, "kind"),
        ] {
            let group = t[key].as_str().unwrap_or("?").to_string();
            add(groups.entry(group).or_default(), &scores);
        }
        if !missed.is_empty() {
            report.push_str(&format!("\n{file}:\n  {}", missed.join("\n  ")));
        }
    }
    let mut whole = BTreeMap::new();
    whole.insert("all".to_string(), all.clone());
    println!("{}", table("## All letters", &whole));
    println!("{}", table("## By format", &by_format));
    println!("{}", table("## By generator", &by_generator));
    println!("{}", table("## By kind", &by_kind));
    println!("## What was missed\n{report}");

    let wrong = all.get("wrong patient").map_or(0, |s| s.right);
    assert_eq!(wrong, 0, "letters filed against a wrong patient");

    let ratchet: BTreeMap<String, u32> =
        serde_json::from_str(&std::fs::read_to_string(dir().join("ratchet.json")).unwrap())
            .unwrap();
    let mut fell = Vec::new();
    let mut rose = Vec::new();
    for m in MEASURES {
        if m == "wrong patient" {
            continue;
        }
        let now = all.get(m).map_or(0, |s| s.right);
        let floor = ratchet.get(m).copied().unwrap_or(0);
        if now < floor {
            fell.push(format!("{m}: {now} < {floor}"));
        } else if now > floor {
            rose.push(format!("\"{m}\": {now}"));
        }
    }
    if !rose.is_empty() {
        println!(
            "better than the ratchet; raise it in ratchet.json: {}",
            rose.join(", ")
        );
    }
    assert!(fell.is_empty(), "fell below the ratchet: {fell:?}");
}
