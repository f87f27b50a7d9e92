//! IMAP commands come from any mail program on the internet: any bytes
//! must parse into a command or give a clear error, never a panic; and a
//! command's modified UTF-7 names must decode or be refused.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match athen_imap::syntax::parse(data) {
        Ok(t) => {
            assert!(!t.tag.is_empty());
            let _ = t.command.name();
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
    if let Ok(s) = std::str::from_utf8(data)
        && let Some(name) = athen_imap::utf7::decode(s)
    {
        assert_eq!(athen_imap::utf7::decode(&athen_imap::utf7::encode(&name)), Some(name));
    }
});
