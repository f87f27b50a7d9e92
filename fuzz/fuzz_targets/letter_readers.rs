//! Letters come from anyone: every reader (message, HTML, text, RTF, DOCX,
//! PDF) and the extraction after it must give a result for any bytes, and
//! what they report must be internally consistent.
#![no_main]

use athen_clinical::convert::{InputKind, convert};
use athen_clinical::date::Date;
use athen_clinical::extract::Context;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ctx = Context {
        today: Date::new(2026, 11, 24).unwrap(),
        author: None,
        recipient: None,
        sent: None,
    };
    for kind in [
        InputKind::Message,
        InputKind::Html,
        InputKind::Text,
        InputKind::Rtf,
        InputKind::Docx,
        InputKind::Pdf,
    ] {
        let c = convert(kind, data, &ctx);
        let p = &c.extraction.patient;
        if c.extraction.not_possible.is_none() {
            assert!(p.family_name.is_some() && p.birth_date.is_some());
        }
        if let Some(d) = &p.birth_date {
            assert!(d.value <= ctx.today);
        }
    }
});
