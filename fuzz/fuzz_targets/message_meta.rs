//! The list fields of every incoming message are read with mail-parser
//! before the message is stored: any bytes at all must give a result.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = athen_mail::meta::extract(data);
});
