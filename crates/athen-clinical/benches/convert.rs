//! Issue 4's figures: a 20 KB text letter and a 200 KB DOCX letter (30 KB
//! of text and a letterhead image, as Word saves them) read, their
//! details found, and written as HL7 ORU^R01 with its PDF display, and as
//! PIT; and the same 20 KB letter as a PDF (several pages, laid out by
//! ATHEN's own PDF writer) read from its text layer.
//!
//! Run: `cargo bench -p athen-clinical --bench convert`.

use athen_clinical::convert::{InputKind, convert};
use athen_clinical::date::Date;
use athen_clinical::extract::Context;
use athen_clinical::patient::Party;
use athen_clinical::write::{Job, Letter, Stamp, hl7, pit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A realistic referral grown to about 20 KB with clinical paragraphs.
fn letter_20k() -> Vec<u8> {
    let mut s = String::from(
        "Northside Medical Centre\n1 High Street, Northside NSW 2000\n\n24 November 2026\n\n\
Dr Anna Müller\nSouthside Cardiology\n\nDear Dr Müller,\n\nRe: Mr Seán O'BRIEN\nDOB: 01/02/1960\n\
Address: 12 Main St, Northside NSW 2000\nMedicare: 2123 45670 1\n\n",
    );
    let mut i = 0;
    while s.len() < 20_000 {
        i += 1;
        s.push_str(&format!(
            "{i}. Seen on several occasions for *exertional chest pain*, worse on hills and in cold \
weather, relieved by rest and glyceryl trinitrate spray. ECG shows no acute changes; lipids \
and HbA1c are attached. Current medicines: aspirin 100 mg daily, atorvastatin 40 mg nightly, \
metoprolol 25 mg twice daily.\n\n"
        ));
    }
    s.push_str("Yours sincerely,\n\nDr Peter Smith\nProvider No: 2426621B\n");
    s.into_bytes()
}

/// The 20 KB letter as Word paragraphs plus a letterhead image, zipped.
fn docx_200k() -> Vec<u8> {
    use std::io::Write;
    let text = String::from_utf8(letter_20k()).unwrap();
    let mut paragraphs = String::new();
    for p in text
        .split("\n\n")
        .cycle()
        .take(text.split("\n\n").count() * 3 / 2)
    {
        paragraphs.push_str("<w:p>");
        for (i, line) in p.lines().enumerate() {
            if i > 0 {
                paragraphs.push_str("<w:r><w:br/></w:r>");
            }
            let escaped = line.replace('&', "&amp;").replace('<', "&lt;");
            paragraphs.push_str(&format!(
                "<w:r><w:rPr><w:rFonts w:ascii=\"Arial\"/><w:sz w:val=\"22\"/></w:rPr><w:t xml:space=\"preserve\">{escaped}</w:t></w:r>"
            ));
        }
        paragraphs.push_str("</w:p>");
    }
    let document = athen_clinical::read::docx::document(&paragraphs);
    let mut out = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut out);
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file("word/document.xml", opts).unwrap();
    z.write_all(document.as_bytes()).unwrap();
    // A letterhead picture: stored, as images are.
    z.start_file(
        "word/media/image1.png",
        opts.compression_method(zip::CompressionMethod::Stored),
    )
    .unwrap();
    let mut x: u32 = 12345;
    let noise: Vec<u8> = (0..199_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    z.write_all(&noise).unwrap();
    z.finish().unwrap();
    out.into_inner()
}

fn bench(c: &mut Criterion) {
    let letter = letter_20k();
    let ctx = Context {
        today: Date::new(2026, 11, 24).unwrap(),
        author: None,
        recipient: Some(Party {
            title: Some("Dr".into()),
            given_names: Some("Anna".into()),
            family_name: Some("Müller".into()),
            provider_number: Some("4322581B".into()),
            ..Default::default()
        }),
        sent: None,
    };
    let job = Job {
        now: Stamp::from_unix(1_795_500_000, 660),
        run_number: 42,
        sender_initials: "NMC".into(),
        control_id: "ATHEN0000000001".into(),
        local_patient_id: None,
    };
    let endpoints = hl7::Endpoints::default();
    let docx = docx_200k();
    let pdf = {
        let c = convert(InputKind::Text, &letter, &ctx);
        let l = Letter {
            extraction: &c.extraction,
            body: &c.body,
            original_pdf: None,
        };
        athen_clinical::write::pdf::render(l, &job, "Letter").unwrap()
    };
    for (group, kind, input) in [
        ("text_letter_20k".to_string(), InputKind::Text, &letter),
        (
            format!("docx_letter_{}k", docx.len() / 1000),
            InputKind::Docx,
            &docx,
        ),
        (
            format!("pdf_letter_{}k", pdf.len() / 1000),
            InputKind::Pdf,
            &pdf,
        ),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Bytes(input.len() as u64));
        // What `athen convert --to json` does before printing: read the
        // letter and find its patient, author, recipient and date.
        g.bench_function("read_and_extract", |b| {
            b.iter(|| convert(kind, input, &ctx))
        });
        g.bench_function("to_hl7_oru_with_pdf", |b| {
            b.iter(|| {
                let c = convert(kind, input, &ctx);
                assert!(c.extraction.not_possible.is_none());
                let l = Letter {
                    extraction: &c.extraction,
                    body: &c.body,
                    original_pdf: c.original_pdf.as_deref(),
                };
                hl7::write(
                    l,
                    &job,
                    hl7::Kind::Oru,
                    hl7::Profile::Adrm2021,
                    &endpoints,
                    true,
                )
                .unwrap()
            })
        });
        g.bench_function("to_pit", |b| {
            b.iter(|| {
                let c = convert(kind, input, &ctx);
                let l = Letter {
                    extraction: &c.extraction,
                    body: &c.body,
                    original_pdf: None,
                };
                pit::write(l, &job, false).unwrap()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
