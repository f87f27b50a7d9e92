//! What IMAP FETCH reads of a stored message (its MIME structure, any
//! section, BODYSTRUCTURE and ENVELOPE) comes from mail anyone sent: any
//! bytes must give an answer, never a panic, and every section is a part
//! of the message.
#![no_main]

use athen_imap::mime::{Part, decoded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = Part::parse(data);
    let mut out = Vec::new();
    p.write_structure(&mut out, true, false);
    p.write_envelope(&mut out, true);
    for path in [&[1][..], &[1, 1], &[2], &[2, 1, 3], &[3, 2]] {
        if let Some(part) = p.find(path) {
            let _ = decoded(part);
            assert!(part.body.len() <= data.len());
        }
        let _ = p.message_at(path);
    }
});
