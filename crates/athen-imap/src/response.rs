//! Writing IMAP data (RFC 9051 §4): strings as quoted strings when they
//! can be, literals otherwise; NIL; dates; flags.

use athen_core::mailbox::flags;

/// Appends `s` as a quoted string, or as a literal when it holds what a
/// quoted string may not (CR, LF, NUL, 8-bit without UTF-8 enabled) or
/// is long.
pub fn string(out: &mut Vec<u8>, s: &[u8], utf8: bool) {
    let quotable = s.len() <= 1024
        && s.iter()
            .all(|&b| b != b'\r' && b != b'\n' && b != 0 && (utf8 || b < 0x80));
    if quotable && (utf8 || std::str::from_utf8(s).is_ok()) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// Appends `s` as a literal (`{n}` CRLF bytes).
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// Appends a string or NIL.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>, utf8: bool) {
    match s {
        Some(s) => string(out, s, utf8),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// The keyword flags kept as bits beside the system flags (RFC 9051
/// §2.3.2; `$MDNSent` is RFC 3503's, telling mail programs that the read
/// receipt is taken care of; `$Forwarded`, `$Junk` and `$NotJunk` are in
/// the IANA keyword registry and set by Thunderbird and others).
pub const KEYWORDS: [(&str, u32); 4] = [
    ("$MDNSent", flags::MDN_SENT),
    ("$Forwarded", flags::FORWARDED),
    ("$Junk", flags::JUNK),
    ("$NotJunk", flags::NOT_JUNK),
];

/// The flags a message can keep, as PERMANENTFLAGS and FLAGS list them.
pub const FLAG_NAMES: &str =
    "\\Answered \\Flagged \\Deleted \\Seen \\Draft $MDNSent $Forwarded $Junk $NotJunk";

/// Writes a flag set: `(\Seen \Flagged)`.
pub fn flag_list(out: &mut Vec<u8>, f: u32) {
    out.push(b'(');
    let mut first = true;
    let mut put = |name: &str| {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(name.as_bytes());
    };
    for (bit, name) in [
        (flags::SEEN, "\\Seen"),
        (flags::ANSWERED, "\\Answered"),
        (flags::FLAGGED, "\\Flagged"),
        (flags::DELETED, "\\Deleted"),
        (flags::DRAFT, "\\Draft"),
    ] {
        if f & bit != 0 {
            put(name);
        }
    }
    for (name, bit) in KEYWORDS {
        if f & bit != 0 {
            put(name);
        }
    }
    out.push(b')');
}

/// The bit of a keyword kept as one, case-insensitively (RFC 9051
/// §2.3.2: keywords are case-insensitive).
pub fn keyword_bit(name: &str) -> Option<u32> {
    KEYWORDS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, b)| *b)
}

/// INTERNALDATE's form: `"24-Nov-2026 10:00:00 +0000"` (UTC).
pub fn internal_date(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "\"{:02}-{}-{:04} {:02}:{:02}:{:02} +0000\"",
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &[u8], utf8: bool) -> String {
        let mut out = Vec::new();
        string(&mut out, x, utf8);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn strings() {
        assert_eq!(s(b"Inbox", false), "\"Inbox\"");
        assert_eq!(s(b"a\"b\\c", false), "\"a\\\"b\\\\c\"");
        assert_eq!(s(b"two\r\nlines", false), "{10}\r\ntwo\r\nlines");
        assert_eq!(s("Müller".as_bytes(), false), "{7}\r\nMüller");
        assert_eq!(s("Müller".as_bytes(), true), "\"Müller\"");
        let mut f = Vec::new();
        flag_list(&mut f, flags::SEEN | flags::DELETED | flags::MDN_SENT);
        assert_eq!(f, b"(\\Seen \\Deleted $MDNSent)");
        assert_eq!(internal_date(0), "\"01-Jan-1970 00:00:00 +0000\"");
        assert_eq!(keyword_bit("$mdnsent"), Some(flags::MDN_SENT));
    }
}
