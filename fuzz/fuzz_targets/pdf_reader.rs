//! PDF letters come from anyone: the PDF reader must read or refuse any
//! bytes, without panic, hang or unbounded memory. Seed the corpus with
//! the test letters: `cp crates/athen/tests/letters/*.pdf fuzz/corpus/pdf_reader/`.
#![no_main]

use athen_clinical::read::pdf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = pdf::read(data) {
        assert!(!body.is_empty());
    }
});
