//! MTA-STS policies are fetched from other domains' web servers
//! (RFC 8461 §3.2): any text must give a policy or a reason, and a policy
//! that is not "none" names at least one MX pattern.
#![no_main]

use athen_smtp::outbound::mta_sts::{Mode, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = Policy::parse(&text) {
        assert!(p.mode == Mode::None || !p.mx.is_empty());
        assert!(p.max_age <= 31_557_600);
        let _ = p.allows("mx.example.test");
    }
});
