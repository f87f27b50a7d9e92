//! What FETCH returns of one message (RFC 9051 §6.4.5, §7.5.2), and what
//! SEARCH looks at in it (§6.4.4).

use crate::command::{FetchItem, Rfc822Part, SearchKey, Section, SectionText};
use crate::mime::{self, Part};
use crate::response;
use athen_core::mailbox::{IndexEntry, StoredMessage};

/// Whether any item needs the message's text (decrypting it).
pub fn needs_body(items: &[FetchItem]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            FetchItem::Envelope
                | FetchItem::Body
                | FetchItem::BodyStructure
                | FetchItem::Rfc822(_)
                | FetchItem::Section { .. }
                | FetchItem::BinarySize(_)
        )
    })
}

/// Whether fetching the items reads the letter (sets `\Seen`, RFC 9051
/// §6.4.5: BODY[…] without .PEEK, RFC822, RFC822.TEXT, BINARY[…]).
pub fn reads(items: &[FetchItem]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            FetchItem::Rfc822(Rfc822Part::Whole | Rfc822Part::Text)
                | FetchItem::Section { peek: false, .. }
        )
    })
}

fn section_name(s: &Section) -> String {
    let mut name: String = s
        .part
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".");
    if let Some(t) = &s.text {
        if !name.is_empty() {
            name.push('.');
        }
        match t {
            SectionText::Header => name.push_str("HEADER"),
            SectionText::Text => name.push_str("TEXT"),
            SectionText::Mime => name.push_str("MIME"),
            SectionText::HeaderFields { not, fields } => {
                name.push_str(if *not {
                    "HEADER.FIELDS.NOT ("
                } else {
                    "HEADER.FIELDS ("
                });
                name.push_str(
                    &fields
                        .iter()
                        .map(|f| f.to_ascii_uppercase())
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                name.push(')');
            }
        }
    }
    name
}

/// The bytes of a section; `None` when the message has no such part
/// (answered as NIL... an empty string, as other servers do).
fn section_bytes(root: &Part<'_>, raw: &[u8], s: &Section) -> Option<Vec<u8>> {
    match &s.text {
        None if s.part.is_empty() => Some(raw.to_vec()),
        None => root.find(&s.part).map(|p| p.body.to_vec()),
        Some(SectionText::Mime) => root.find(&s.part).map(|p| p.header.to_vec()),
        Some(SectionText::Header) => root.message_at(&s.part).map(|m| m.header.to_vec()),
        Some(SectionText::Text) => root.message_at(&s.part).map(|m| m.body.to_vec()),
        Some(SectionText::HeaderFields { not, fields }) => root
            .message_at(&s.part)
            .map(|m| mime::header_fields(m.header, fields, *not)),
    }
}

fn partial_of(data: &[u8], partial: Option<(u32, u32)>) -> &[u8] {
    match partial {
        None => data,
        Some((offset, length)) => {
            let start = (offset as usize).min(data.len());
            let end = start.saturating_add(length as usize).min(data.len());
            &data[start..end]
        }
    }
}

/// One message's FETCH response items (without the `* n FETCH (` and
/// `)` around them). `row` and `raw` are there when the items need them.
pub fn write_items(
    out: &mut Vec<u8>,
    items: &[FetchItem],
    entry: &IndexEntry,
    row: Option<&StoredMessage>,
    raw: Option<&[u8]>,
    utf8: bool,
) {
    let parsed = raw.map(Part::parse);
    let mut first = true;
    for item in items {
        if !first {
            out.push(b' ');
        }
        first = false;
        match item {
            FetchItem::Uid => out.extend_from_slice(format!("UID {}", entry.uid).as_bytes()),
            FetchItem::Flags => {
                out.extend_from_slice(b"FLAGS ");
                response::flag_list(out, entry.flags);
            }
            FetchItem::Modseq => {
                out.extend_from_slice(format!("MODSEQ ({})", entry.modseq).as_bytes())
            }
            FetchItem::InternalDate => {
                let at = row.map_or(0, |r| r.received_at);
                out.extend_from_slice(
                    format!("INTERNALDATE {}", response::internal_date(at)).as_bytes(),
                );
            }
            FetchItem::Rfc822Size => {
                let size = row.map_or(0, |r| r.size);
                out.extend_from_slice(format!("RFC822.SIZE {size}").as_bytes());
            }
            FetchItem::Envelope => {
                out.extend_from_slice(b"ENVELOPE ");
                match &parsed {
                    Some(p) => p.write_envelope(out, utf8),
                    None => out.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
                }
            }
            FetchItem::Body | FetchItem::BodyStructure => {
                let ext = *item == FetchItem::BodyStructure;
                out.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
                match &parsed {
                    Some(p) => p.write_structure(out, ext, utf8),
                    None => out.extend_from_slice(b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)"),
                }
            }
            FetchItem::Rfc822(part) => {
                let (name, section) = match part {
                    Rfc822Part::Whole => ("RFC822", Section::default()),
                    Rfc822Part::Header => (
                        "RFC822.HEADER",
                        Section {
                            part: vec![],
                            text: Some(SectionText::Header),
                        },
                    ),
                    Rfc822Part::Text => (
                        "RFC822.TEXT",
                        Section {
                            part: vec![],
                            text: Some(SectionText::Text),
                        },
                    ),
                };
                out.extend_from_slice(name.as_bytes());
                out.push(b' ');
                let data = match (&parsed, raw) {
                    (Some(p), Some(raw)) => section_bytes(p, raw, &section).unwrap_or_default(),
                    _ => Vec::new(),
                };
                response::literal(out, &data);
            }
            FetchItem::Section {
                section,
                partial,
                binary,
                ..
            } => {
                let name = section_name(section);
                let data = match (&parsed, raw) {
                    (Some(p), Some(raw)) if *binary => {
                        if section.part.is_empty() {
                            Some(raw.to_vec())
                        } else {
                            p.find(&section.part).and_then(mime::decoded)
                        }
                    }
                    (Some(p), Some(raw)) => section_bytes(p, raw, section),
                    _ => None,
                };
                let data = data.unwrap_or_default();
                let shown = partial_of(&data, *partial);
                out.extend_from_slice(if *binary { b"BINARY[" } else { b"BODY[" });
                out.extend_from_slice(name.as_bytes());
                out.push(b']');
                if let Some((offset, _)) = partial {
                    out.extend_from_slice(format!("<{offset}>").as_bytes());
                }
                out.push(b' ');
                if *binary && shown.contains(&0) {
                    // RFC 3516 §4.2: literal8 for binary data.
                    out.push(b'~');
                }
                response::literal(out, shown);
            }
            FetchItem::BinarySize(part) => {
                let size = match &parsed {
                    Some(p) if part.is_empty() => raw.map_or(0, <[u8]>::len),
                    Some(p) => p.find(part).and_then(mime::decoded).map_or(0, |d| d.len()),
                    None => 0,
                };
                let name = part
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(".");
                out.extend_from_slice(format!("BINARY.SIZE[{name}] {size}").as_bytes());
            }
        }
    }
}

/// Where SEARCH needs to look: the index only, the row, or the text.
#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
pub enum Depth {
    Index,
    Row,
    Text,
}

pub fn depth(key: &SearchKey) -> Depth {
    match key {
        SearchKey::And(keys) => keys.iter().map(depth).max().unwrap_or(Depth::Index),
        SearchKey::Or(a, b) => depth(a).max(depth(b)),
        SearchKey::Not(k) => depth(k),
        SearchKey::Larger(_)
        | SearchKey::Smaller(_)
        | SearchKey::Before(_)
        | SearchKey::On(_)
        | SearchKey::Since(_) => Depth::Row,
        SearchKey::Header(..)
        | SearchKey::Body(_)
        | SearchKey::Text(_)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_) => Depth::Text,
        _ => Depth::Index,
    }
}

/// One message as SEARCH sees it.
pub struct Candidate<'a> {
    pub seq: u32,
    pub largest_seq: u32,
    pub largest_uid: u32,
    pub entry: &'a IndexEntry,
    pub row: Option<&'a StoredMessage>,
    pub raw: Option<&'a [u8]>,
}

fn day_of(unix: i64) -> i64 {
    unix.div_euclid(86_400)
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

/// The decoded text of a message's header fields named `name`, with the
/// raw values (so both "Müller" and its encoded word are found).
fn header_texts(raw: &[u8], name: &str) -> Vec<String> {
    let (header, _) = mime::split_header(raw);
    let mut out: Vec<String> = mime::fields(header)
        .into_iter()
        .filter(|(n, _, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v, _)| v)
        .collect();
    if let Some(m) = mail_parser::MessageParser::default().parse_headers(header) {
        for h in m.headers() {
            if h.name().eq_ignore_ascii_case(name) {
                match h.value() {
                    mail_parser::HeaderValue::Text(t) => out.push(t.to_string()),
                    mail_parser::HeaderValue::TextList(l) => out.push(l.join(" ")),
                    mail_parser::HeaderValue::Address(a) => {
                        for addr in a.iter() {
                            out.push(format!(
                                "{} {}",
                                addr.name.as_deref().unwrap_or(""),
                                addr.address.as_deref().unwrap_or("")
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

fn body_text(raw: &[u8]) -> String {
    let mut text = String::new();
    if let Some(m) = mail_parser::MessageParser::default().parse(raw) {
        for i in 0..m.text_body_count() {
            if let Some(t) = m.body_text(i) {
                text.push_str(&t);
                text.push('\n');
            }
        }
    }
    if text.is_empty() {
        text = String::from_utf8_lossy(mime::split_header(raw).1).into_owned();
    }
    text
}

fn sent_day(raw: &[u8]) -> Option<i64> {
    let (header, _) = mime::split_header(raw);
    let m = mail_parser::MessageParser::default().parse_headers(header)?;
    let d = m.date()?;
    // RFC 9051 §6.4.4: the date as written, time and zone disregarded.
    let month = time::Month::try_from(d.month).ok()?;
    let date = time::Date::from_calendar_date(i32::from(d.year), month, d.day).ok()?;
    Some(i64::from(date.to_julian_day()) - 2_440_588)
}

/// Whether a message matches a key.
pub fn matches(key: &SearchKey, c: &Candidate<'_>) -> bool {
    let text = || c.raw.unwrap_or_default();
    match key {
        SearchKey::All => true,
        SearchKey::And(keys) => keys.iter().all(|k| matches(k, c)),
        SearchKey::Or(a, b) => matches(a, c) || matches(b, c),
        SearchKey::Not(k) => !matches(k, c),
        SearchKey::Sequence(set) => set.contains(c.seq, c.largest_seq),
        SearchKey::Uid(set) => set.contains(c.entry.uid, c.largest_uid),
        SearchKey::Flags(bits, with) => (c.entry.flags & bits == *bits) == *with,
        SearchKey::Keyword(name, with) => match response::keyword_bit(name) {
            Some(bit) => (c.entry.flags & bit != 0) == *with,
            None => !*with,
        },
        // Nothing is \Recent here (IMAP4rev2 dropped it).
        SearchKey::Recent(recent) => !*recent,
        SearchKey::New => false,
        SearchKey::Larger(n) => c.row.is_some_and(|r| r.size > *n),
        SearchKey::Smaller(n) => c.row.is_some_and(|r| r.size < *n),
        SearchKey::Before(d) => c.row.is_some_and(|r| day_of(r.received_at) < *d),
        SearchKey::On(d) => c.row.is_some_and(|r| day_of(r.received_at) == *d),
        SearchKey::Since(d) => c.row.is_some_and(|r| day_of(r.received_at) >= *d),
        SearchKey::SentBefore(d) => sent_day(text()).is_some_and(|s| s < *d),
        SearchKey::SentOn(d) => sent_day(text()).is_some_and(|s| s == *d),
        SearchKey::SentSince(d) => sent_day(text()).is_some_and(|s| s >= *d),
        SearchKey::Header(name, value) => {
            let values = header_texts(text(), name);
            // An empty value matches every message with the field.
            !values.is_empty() && (value.is_empty() || values.iter().any(|v| contains_ci(v, value)))
        }
        SearchKey::Body(s) => contains_ci(&body_text(text()), s),
        SearchKey::Text(s) => {
            contains_ci(&String::from_utf8_lossy(mime::split_header(text()).0), s)
                || contains_ci(&body_text(text()), s)
        }
        SearchKey::Modseq(m) => c.entry.modseq >= *m,
    }
}

/// Whether a key names MODSEQ (the answer then carries the highest).
pub fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::Modseq(_) => true,
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::Not(k) => uses_modseq(k),
        _ => false,
    }
}
