//! The header section of a raw message as the bytes that came, field by
//! field (RFC 5322 §2.2: a field is a line and the folded lines after it),
//! for the checks and removals that must see every field exactly as sent
//! rather than as a parser chose to merge them.

use std::borrow::Cow;

/// Where the header section ends: the start of the empty line before the
/// body (or the end, if there is none).
pub fn header_end(raw: &[u8]) -> usize {
    let mut pos = 0;
    while pos < raw.len() {
        let line_end = raw[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| pos + i + 1);
        if matches!(&raw[pos..line_end], b"\r\n" | b"\n") {
            return pos;
        }
        pos = line_end;
    }
    raw.len()
}

/// The byte ranges of the header fields, folded lines included.
pub fn fields(raw: &[u8]) -> Vec<(usize, usize)> {
    let end = header_end(raw);
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0;
    while pos < end {
        let line_end = raw[pos..end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(end, |i| pos + i + 1);
        let continuation = matches!(raw[pos], b' ' | b'\t');
        match fields.last_mut() {
            Some((_, field_end)) if continuation => *field_end = line_end,
            _ => fields.push((pos, line_end)),
        }
        pos = line_end;
    }
    fields
}

/// A field's name (before its colon, trailing blanks removed), or empty.
pub fn name(field: &[u8]) -> &[u8] {
    field
        .iter()
        .position(|&b| b == b':')
        .map_or(&[][..], |colon| field[..colon].trim_ascii_end())
}

/// The message without the header fields `drop` picks; the body and every
/// other field exactly as they were.
pub fn without<'a>(raw: &'a [u8], drop: impl Fn(&[u8]) -> bool) -> Cow<'a, [u8]> {
    let dropped: Vec<(usize, usize)> = fields(raw)
        .into_iter()
        .filter(|&(start, end)| drop(&raw[start..end]))
        .collect();
    if dropped.is_empty() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut pos = 0;
    for (start, end) in dropped {
        out.extend_from_slice(&raw[pos..start]);
        pos = end;
    }
    out.extend_from_slice(&raw[pos..]);
    Cow::Owned(out)
}

/// The fields that say who a message is from, which a reader's program
/// shows one of: RFC 5322 §3.6 allows each once. With two `From:` fields a
/// mail program shows the first while a check may read the last, so a
/// message with more than one of any is refused (550 5.6.0), on
/// submission and on the MX alike. `Return-Path:` is added by the final
/// delivery server (RFC 5321 §4.4); one the sender wrote is removed by the
/// MX before it adds its own, so counting it here refuses a message that
/// tries two.
pub const IDENTITY_FIELDS: [&str; 3] = ["From", "Sender", "Return-Path"];

/// `Err` with the reason, in words for the sender, if a field of
/// [`IDENTITY_FIELDS`] comes more than once.
pub fn one_of_each_identity_field(raw: &[u8]) -> Result<(), String> {
    let all = fields(raw);
    for wanted in IDENTITY_FIELDS {
        let n = all
            .iter()
            .filter(|&&(s, e)| name(&raw[s..e]).eq_ignore_ascii_case(wanted.as_bytes()))
            .count();
        if n > 1 {
            return Err(format!(
                "The message has {n} {wanted}: fields; a message has at most one (RFC 5322 §3.6)"
            ));
        }
    }
    Ok(())
}

/// The message without any `Return-Path:` field the sender wrote (RFC
/// 5321 §4.4: only the final delivery server adds it).
pub fn without_return_path(raw: &[u8]) -> Cow<'_, [u8]> {
    without(raw, |f| name(f).eq_ignore_ascii_case(b"return-path"))
}

/// Set by this server on a letter from an account whose posted code has
/// not been entered yet (issue 20): the reader is told the sender is not
/// yet confirmed. Removed from every message that comes in, so only this
/// server's own word reaches a reader.
pub const SENDER_STATUS: &str = "X-Athen-Sender-Status";

/// The message without any `X-Athen-Sender-Status:` field.
pub fn without_sender_status(raw: &[u8]) -> Cow<'_, [u8]> {
    without(raw, |f| {
        name(f).eq_ignore_ascii_case(SENDER_STATUS.as_bytes())
    })
}

/// Whether this server marked the letter's sender as not yet confirmed.
pub fn sender_unconfirmed(raw: &[u8]) -> bool {
    fields(raw).iter().any(|&(s, e)| {
        let f = &raw[s..e];
        name(f).eq_ignore_ascii_case(SENDER_STATUS.as_bytes())
            && f[name(f).len()..]
                .trim_ascii()
                .trim_ascii_start()
                .strip_prefix(b":")
                .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"unconfirmed"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fields_fold_and_the_body_is_not_a_field() {
        let raw = b"From: a@b\r\nSubject: one\r\n two\r\nReturn-Path: <x@y>\r\n\r\nReturn-Path: <body>\r\n";
        assert_eq!(fields(raw).len(), 3);
        let kept = without_return_path(raw);
        assert_eq!(
            &kept[..],
            &b"From: a@b\r\nSubject: one\r\n two\r\n\r\nReturn-Path: <body>\r\n"[..]
        );
        assert!(one_of_each_identity_field(raw).is_ok());
        assert!(one_of_each_identity_field(b"From: a@b\r\nfrom : c@d\r\n\r\n").is_err());
        assert!(one_of_each_identity_field(b"Sender: a@b\nSender: c@d\n\n").is_err());
        assert!(one_of_each_identity_field(b"From: a@b\r\nSender: c@d\r\n\r\nFrom: x\r\n").is_ok());
        let marked = b"X-Athen-Sender-Status: unconfirmed\r\nFrom: a@b\r\n\r\nx";
        assert!(sender_unconfirmed(marked));
        assert!(!sender_unconfirmed(&without_sender_status(marked)));
        assert!(!sender_unconfirmed(
            b"From: a@b\r\n\r\nX-Athen-Sender-Status: unconfirmed\r\n"
        ));
    }

    proptest! {
        /// Removing fields never touches the body, and a second pass finds
        /// nothing more to remove.
        #[test]
        fn removal_keeps_the_body(head in "([A-Za-z-]{1,12}: [ -~]{0,20}\r\n( [ -~]{0,10}\r\n)?){0,8}", body in "[ -~\r\n]{0,80}") {
            let raw = format!("{head}\r\n{body}");
            let once = without_return_path(raw.as_bytes()).into_owned();
            let tail = format!("\r\n{body}");
            prop_assert!(once.ends_with(tail.as_bytes()));
            let twice = without_return_path(&once);
            prop_assert_eq!(&once[..], &twice[..]);
        }
    }
}
