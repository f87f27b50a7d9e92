//! Bytes read back from disk (sealed spool entries, stored messages, wrapped
//! credentials) may be damaged or planted: opening them must fail cleanly,
//! never panic, and never return anything for data the key did not make.
#![no_main]

use athen_vault::MailboxSecret;
use athen_vault::seal::{decrypt_stored, open_sealed};
use athen_vault::wrap;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn secret() -> &'static MailboxSecret {
    static S: OnceLock<MailboxSecret> = OnceLock::new();
    S.get_or_init(|| MailboxSecret::generate().expect("randomness"))
}

fuzz_target!(|data: &[u8]| {
    let s = secret();
    assert!(open_sealed(s, data).is_err());
    assert!(decrypt_stored(s, "body", "mail/1/x", data).is_err());
    // Wrapped credentials carry their own Argon2 parameters: absurd ones must
    // be refused before any work is done.
    let cheap = match wrap::kdf_of(data) {
        None | Some(None) => true,
        // Legal but expensive parameters are the administrator's choice; keep
        // the fuzzer fast by unwrapping only the cheapest.
        Some(Some(p)) => p.memory_kib <= 8192 && p.iterations <= 1 && p.parallelism <= 1,
    };
    if cheap {
        assert!(wrap::unwrap(data, b"password", &s.public_key()).is_err());
    }
});
