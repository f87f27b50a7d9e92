//! Reply lines from other mail servers (RFC 5321 §4.2) are read by the
//! outbound client: any bytes must give a reply or a refusal, and a reply's
//! code is always three digits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        if let Some((code, _last, _text)) = athen_smtp::outbound::client::parse_reply_line(line) {
            assert!((200..=599).contains(&code) || (100..=999).contains(&code));
        }
    }
});
