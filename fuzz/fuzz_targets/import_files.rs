//! A sender controls every name, address and line of text that reaches an
//! import file. Whatever they are (given to the writers directly, in an
//! `X-Athen-Patient` header, or as a whole message), every HL7 file has
//! exactly the segments its profile says with one PID, and every PIT file
//! exactly the line codes it should.
#![no_main]

use athen_clinical::convert::{InputKind, convert};
use athen_clinical::date::Date;
use athen_clinical::document::{Block, Body, Inline, Style};
use athen_clinical::extract::{Context, Extraction};
use athen_clinical::patient::*;
use athen_clinical::write::hl7::Endpoints;
use athen_clinical::write::{Job, Letter, Stamp, shape};
use libfuzzer_sys::fuzz_target;

fn check(x: &Extraction, body: &Body, job: &Job, endpoints: &Endpoints) {
    let letter = Letter {
        extraction: x,
        body,
        original_pdf: None,
    };
    if let Err(why) = shape::check_every_format(letter, job, endpoints, false) {
        panic!("{why}");
    }
}

fn party(p: &[String]) -> Party {
    Party {
        title: Some(p[0].clone()),
        given_names: Some(p[1].clone()),
        family_name: Some(p[2].clone()),
        provider_number: Some(p[3].clone()),
        organisation: Some(p[4].clone()),
        email: None,
    }
}

fn percent(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut p: Vec<String> = rest
        .split(|b| *b == 0xff)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    p.resize(20, String::new());
    let job = Job {
        now: Stamp::from_unix(1_795_500_000, 600),
        run_number: 7,
        sender_initials: "ABC".into(),
        control_id: p[19].clone(),
        local_patient_id: Some(p[18].clone()),
    };
    let endpoints = Endpoints {
        sending_facility: p[13].clone(),
        receiving_application: p[14].clone(),
        receiving_facility: p[15].clone(),
    };
    let found = |v: &str| Some(Found::new(v.to_string(), Source::PatientHeader));
    let ctx = Context {
        today: Date::new(2026, 11, 24).unwrap(),
        author: Some(party(&p[8..13])),
        recipient: Some(party(&p[13..18])),
        sent: None,
    };
    match mode % 3 {
        // The writers, given anything.
        0 => {
            let x = Extraction {
                patient: Patient {
                    family_name: found(&p[0]),
                    given_names: found(&p[1]),
                    title: found(&p[2]),
                    sex: Some(Found::new(Sex::Other, Source::PatientHeader)),
                    birth_date: Some(Found::new(
                        Date::new(1960, 2, 1).unwrap(),
                        Source::PatientHeader,
                    )),
                    address: Some(Found::new(
                        Address {
                            street: Some(p[3].clone()),
                            suburb: Some(p[4].clone()),
                            state: State::ALL.get(usize::from(mode) % 8).copied(),
                            postcode: Some(p[5].clone()),
                        },
                        Source::PatientHeader,
                    )),
                    medicare: Some(Found::new(
                        Medicare {
                            number: p[6].clone(),
                            irn: Some(mode),
                        },
                        Source::PatientHeader,
                    )),
                    dva: found(&p[7]),
                    ihi: found(&p[7]),
                    phone: found(&p[7]),
                },
                letter_date: None,
                author: Some(Found::new(party(&p[8..13]), Source::Directory)),
                recipient: Some(Found::new(party(&p[13..18]), Source::Directory)),
                problems: vec![],
                not_possible: None,
            };
            let body = Body {
                blocks: p[18]
                    .split('\u{0}')
                    .map(|t| Block::Paragraph {
                        content: vec![Inline::Text {
                            text: t.to_string(),
                            style: Style {
                                bold: mode & 4 != 0,
                                underline: mode & 8 != 0,
                                ..Style::default()
                            },
                            link: None,
                        }],
                    })
                    .collect(),
            };
            check(&x, &body, &job, &endpoints);
        }
        // A message with a patient header, subject and letter of anything.
        1 => {
            let raw = format!(
                "X-Athen-Patient: family*=utf-8''{}; given*=utf-8''{}; title*=utf-8''{}; \
                 dob=1960-02-01; street*=utf-8''{}; suburb*=utf-8''{}; state*=utf-8''{}; \
                 postcode*=utf-8''{}; phone*=utf-8''{}\r\nSubject: {}\r\n\r\n{}",
                percent(&p[0]),
                percent(&p[1]),
                percent(&p[2]),
                percent(&p[3]),
                percent(&p[4]),
                percent(&p[5]),
                percent(&p[6]),
                percent(&p[7]),
                p[8].replace(['\r', '\n'], " "),
                p[9],
            );
            let c = convert(InputKind::Message, raw.as_bytes(), &ctx);
            check(&c.extraction, &c.body, &job, &endpoints);
        }
        // Any bytes as a whole message.
        _ => {
            let c = convert(InputKind::Message, rest, &ctx);
            check(&c.extraction, &c.body, &job, &endpoints);
        }
    }
});
