//! Delivery and read receipts come from anyone: any bytes must read as a
//! receipt or not, without panic, and a receipt always names what it is
//! about in one line.
#![no_main]

use athen_mail::receipts::{Receipt, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(r) = parse(data) {
        let (envid, message_id) = r.keys();
        for key in [envid, message_id].into_iter().flatten() {
            assert!(!key.contains(['\r', '\n']));
        }
        if let Receipt::Delivery { recipients, .. } = &r {
            assert!(!recipients.is_empty());
        }
        let _ = r.events(envid, message_id);
    }
});
