//! A sender controls every name, address and line of text that reaches an
//! import file. Whatever they are, the file has exactly the segments or
//! lines its format says, with one patient.

use super::hl7::{Endpoints, Kind, Parsed, Profile};
use super::{Job, Letter, Stamp, hl7, pit, shape};
use crate::date::Date;
use crate::document::{Block, Body, Inline, Style};
use crate::extract::{Context, Extraction, extract};
use crate::patient::*;
use proptest::prelude::*;

/// Text as a hostile sender writes it: any character, with the delimiters
/// of HL7 and PIT and line breaks of every kind often among them.
fn hostile() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            any::<char>(),
            prop::sample::select(vec![
                '\r', '\n', '|', '^', '~', '&', '\\', '\0', '\u{b}', '\u{c}', '\u{1c}', '\u{85}',
                '\u{2028}', '\u{2029}', '\u{ff5c}', '\u{ff5e}', 'P', 'I', 'D', '1', ' ',
            ]),
            Just('a'),
        ],
        0..40,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn found<T>(v: T) -> Option<Found<T>> {
    Some(Found::new(v, Source::PatientHeader))
}

fn party(names: [String; 5]) -> Party {
    let [title, given, family, provider, organisation] = names;
    Party {
        title: Some(title),
        given_names: Some(given),
        family_name: Some(family),
        provider_number: Some(provider),
        organisation: Some(organisation),
        email: None,
    }
}

fn job(control: String, local: String) -> Job {
    Job {
        now: Stamp::from_unix(1_795_500_000, 600),
        run_number: 7,
        sender_initials: "ABC".into(),
        control_id: control,
        local_patient_id: Some(local),
    }
}

fn check_all(x: &Extraction, body: &Body, job: &Job, endpoints: &Endpoints) {
    let letter = Letter {
        extraction: x,
        body,
        original_pdf: None,
    };
    shape::check_every_format(letter, job, endpoints, true).unwrap();
    // Our reader finds one PID, with no more fields than we write.
    let out = hl7::write(letter, job, Kind::Oru, Profile::Adrm2021, endpoints, false).unwrap();
    let text = String::from_utf8(out.bytes).unwrap();
    let msg = Parsed::parse(&text).unwrap();
    let pids: Vec<_> = msg.segments.iter().filter(|s| s[0] == "PID").collect();
    assert_eq!(pids.len(), 1);
    assert!(pids[0].len() <= 14, "PID has {} fields", pids[0].len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every text field of the patient, the author, the recipient, the
    /// sending facility and the letter itself, hostile.
    #[test]
    fn no_text_adds_a_segment_or_a_line(
        patient in prop::array::uniform8(hostile()),
        author in prop::array::uniform5(hostile()),
        recipient in prop::array::uniform5(hostile()),
        facility in prop::array::uniform3(hostile()),
        letter in prop::collection::vec(hostile(), 0..6),
        control in hostile(),
        local in hostile(),
    ) {
        let [family, given, title, street, suburb, postcode, phone, medicare] = patient;
        let x = Extraction {
            patient: Patient {
                family_name: found(family),
                given_names: found(given),
                title: found(title),
                sex: found(Sex::Female),
                birth_date: found(Date::new(1960, 2, 1).unwrap()),
                address: found(Address {
                    street: Some(street),
                    suburb: Some(suburb),
                    state: Some(State::Nsw),
                    postcode: Some(postcode),
                }),
                medicare: found(Medicare { number: medicare.clone(), irn: Some(1) }),
                dva: None,
                ihi: found(medicare),
                phone: found(phone),
            },
            letter_date: None,
            author: Some(Found::new(party(author), Source::Directory)),
            recipient: Some(Found::new(party(recipient), Source::Directory)),
            problems: vec![],
            not_possible: None,
        };
        let body = Body {
            blocks: letter
                .into_iter()
                .map(|text| Block::Paragraph {
                    content: vec![Inline::Text {
                        text,
                        style: Style { bold: true, ..Style::default() },
                        link: None,
                    }],
                })
                .collect(),
        };
        let [sending_facility, receiving_application, receiving_facility] = facility;
        let endpoints = Endpoints { sending_facility, receiving_application, receiving_facility };
        check_all(&x, &body, &job(control, local), &endpoints);
    }

    /// The same through the reader: a patient header whose values carry
    /// anything (RFC 2231 percent-encoding lets CR and LF through), a
    /// subject and a letter.
    #[test]
    fn a_hostile_header_subject_and_letter_make_one_patient(
        values in prop::array::uniform5(hostile()),
        subject in hostile(),
        letter in hostile(),
    ) {
        let enc = |s: &str| -> String {
            s.bytes().map(|b| format!("%{b:02X}")).collect()
        };
        let [given, street, suburb, state, phone] = &values;
        let header = format!(
            "family=\"Smith\"; given*=utf-8''{}; dob=1960-02-01; street*=utf-8''{}; \
             suburb*=utf-8''{}; state*=utf-8''{}; phone*=utf-8''{}",
            enc(given), enc(street), enc(suburb), enc(state), enc(phone)
        );
        let body = crate::read::text::read(&format!("Dear Dr Jones,\n\n{letter}\n"));
        let ctx = Context {
            today: Date::new(2026, 11, 24).unwrap(),
            author: Some(Party { family_name: Some("Author".into()), ..Party::default() }),
            recipient: Some(Party {
                family_name: Some("Jones".into()),
                provider_number: Some("2426621B".into()),
                ..Party::default()
            }),
            sent: None,
        };
        let x = extract(Some(&header), Some(&subject), &body, &ctx);
        if x.not_possible.is_none() {
            check_all(&x, &body, &job("X1".into(), "P1".into()), &Endpoints::default());
        }
        // A value with a control character is never taken from the header.
        let p = &x.patient;
        let texts = [
            p.given_names.as_ref().map(|g| g.value.clone()),
            p.address.as_ref().and_then(|a| a.value.street.clone()),
            p.address.as_ref().and_then(|a| a.value.suburb.clone()),
            p.phone.as_ref().map(|v| v.value.clone()),
        ];
        for t in texts.into_iter().flatten() {
            prop_assert!(!t.chars().any(char::is_control), "{t:?}");
        }
    }
}

/// The attack as it was found: a state with a segment of its own in it,
/// street and suburb with PIT lines in them.
#[test]
fn the_forged_state_street_and_suburb_of_the_report() {
    let header = "family=\"Smith\"; given=\"Jane\"; dob=1960-02-01; \
        state*=utf-8''NSW%0DPID%7C1%7C%7C2953496231%5E%5E%5EAUSHIC%5EMC%7C%7CVICTIM%5EVera%0DOBX%7C1%7CST%7CX%7C1%7CMALIGNANT; \
        street*=utf-8''1%20Main%20St%0D%0A100%20Start%20Patient%20%20%20%3A%20VICTIM%2CVera; \
        suburb*=utf-8''Northside%0D%0A301%20MALIGNANT";
    let body = crate::read::text::read("Dear Dr Jones,\n\nA letter.\n");
    let ctx = Context {
        today: Date::new(2026, 11, 24).unwrap(),
        author: None,
        recipient: Some(Party {
            family_name: Some("Jones".into()),
            provider_number: Some("2426621B".into()),
            ..Party::default()
        }),
        sent: None,
    };
    let x = extract(Some(header), None, &body, &ctx);
    assert!(x.not_possible.is_none(), "{:?}", x.not_possible);
    let fields: Vec<&str> = x.problems.iter().map(|p| p.field.as_str()).collect();
    assert!(fields.contains(&"patient.state"), "{fields:?}");
    assert!(fields.contains(&"patient.street"), "{fields:?}");
    assert!(fields.contains(&"patient.suburb"), "{fields:?}");
    let letter = Letter {
        extraction: &x,
        body: &body,
        original_pdf: None,
    };
    let j = job("X1".into(), "P1".into());
    let out = hl7::write(
        letter,
        &j,
        Kind::Oru,
        Profile::Adrm2021,
        &Endpoints::default(),
        false,
    )
    .unwrap();
    assert_eq!(
        shape::hl7_segment_names(&out.bytes).unwrap(),
        shape::hl7_segments(Kind::Oru, false)
    );
    assert!(!String::from_utf8_lossy(&out.bytes).contains("2953496231"));
    let out = pit::write(letter, &j, false).unwrap();
    let codes = shape::pit_line_codes(&out.bytes, false).unwrap();
    assert!(shape::pit_codes_match(&codes, &x), "{codes:?}");
    assert!(!String::from_utf8_lossy(&out.bytes).contains("VICTIM"));
}

/// A state that is not one of the eight is dropped with a problem, even
/// with no postcode to check it against.
#[test]
fn a_state_is_one_of_eight_or_none() {
    let header = "family=\"Smith\"; dob=1960-02-01; street=\"1 Main St\"; state=\"Atlantis\"";
    let body = crate::read::text::read("Dear Dr Jones,\n");
    let ctx = Context {
        today: Date::new(2026, 11, 24).unwrap(),
        author: None,
        recipient: None,
        sent: None,
    };
    let x = extract(Some(header), None, &body, &ctx);
    let a = &x.patient.address.as_ref().unwrap().value;
    assert_eq!(a.state, None);
    assert_eq!(a.street.as_deref(), Some("1 Main St"));
    assert!(
        x.problems
            .iter()
            .any(|p| p.field == "patient.address.state" && p.found == "Atlantis")
    );
}
