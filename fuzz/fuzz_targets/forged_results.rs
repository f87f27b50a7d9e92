//! Every incoming message passes through the filter that removes
//! Authentication-Results fields claiming to be ours (RFC 8601 §5): any
//! bytes must give a result, never longer than the input, and a second pass
//! must change nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let once = athen_smtp::sender_auth::strip_forged_results(data, "mx.athen.test");
    assert!(once.len() <= data.len());
    let twice = athen_smtp::sender_auth::strip_forged_results(&once, "mx.athen.test");
    assert_eq!(&*once, &*twice);
});
