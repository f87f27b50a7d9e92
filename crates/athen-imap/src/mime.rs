//! A message's MIME structure as IMAP numbers it (RFC 9051 §6.4.5
//! sections, §7.5.2 BODYSTRUCTURE and ENVELOPE), read from the raw bytes:
//! where each part's header and body are, so sections are exact byte
//! ranges of the message as received. Header fields are interpreted by
//! mail-parser (RFC 2047 words, RFC 2231 parameters, addresses); the
//! splitting is done here because IMAP needs the byte ranges of RFC 2046
//! §5.1.1 (the CRLF before a boundary belongs to the boundary).

use crate::response::{nstring, string};
use mail_parser::{Address, HeaderName, HeaderValue, MessageParser, MimeHeaders};

/// Parts may nest this deep, and no deeper (a message of nested
/// multiparts is otherwise a stack overflow).
const MAX_DEPTH: usize = 24;
/// A message is split into at most this many parts.
const MAX_PARTS: usize = 2_000;

/// One part: its header (with the empty line that ends it), its body, and
/// what the body holds.
pub struct Part<'a> {
    pub header: &'a [u8],
    pub body: &'a [u8],
    pub kind: Kind<'a>,
    pub content_type: (String, String),
    pub params: Vec<(String, String)>,
}

pub enum Kind<'a> {
    Leaf,
    Multipart(Vec<Part<'a>>),
    /// message/rfc822: the message inside.
    Message(Box<Part<'a>>),
}

/// Where the header ends: after the first empty line (CRLF CRLF, or a
/// bare LF LF), or the whole input when there is none.
pub fn split_header(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < raw.len() {
        let end = raw[i..].iter().position(|b| *b == b'\n').map(|p| i + p + 1);
        let Some(end) = end else { break };
        let line = &raw[i..end];
        if line == b"\r\n" || line == b"\n" {
            return (&raw[..end], &raw[end..]);
        }
        i = end;
    }
    (raw, &raw[raw.len()..])
}

/// The header's fields: name and raw value (unfolded, trimmed), with the
/// field's bytes as written.
pub fn fields(header: &[u8]) -> Vec<(&str, String, &[u8])> {
    let mut out: Vec<(&str, String, &[u8])> = Vec::new();
    let mut i = 0;
    while i < header.len() {
        let end = header[i..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(header.len(), |p| i + p + 1);
        let line = &header[i..end];
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        if trimmed.is_empty() {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some(last) = out.last_mut() {
                last.1.push_str(&String::from_utf8_lossy(trimmed));
                let start = last.2.as_ptr() as usize - header.as_ptr() as usize;
                last.2 = &header[start..end];
            }
        } else if let Some(colon) = trimmed.iter().position(|b| *b == b':') {
            let name = std::str::from_utf8(&trimmed[..colon]).unwrap_or("").trim();
            let value = String::from_utf8_lossy(&trimmed[colon + 1..]).into_owned();
            out.push((name, value, line));
        }
        i = end;
    }
    for f in &mut out {
        f.1 = f.1.trim().to_string();
    }
    out
}

fn parsed(header: &[u8]) -> Option<mail_parser::Message<'_>> {
    MessageParser::default().parse_headers(header)
}

fn content_type_of(
    header: &[u8],
    default: (&str, &str),
) -> ((String, String), Vec<(String, String)>) {
    let m = parsed(header);
    let ct = m.as_ref().and_then(|m| m.content_type());
    match ct {
        Some(ct) => (
            (
                ct.c_type.to_ascii_lowercase(),
                ct.c_subtype
                    .as_deref()
                    .map_or_else(|| default.1.to_string(), str::to_ascii_lowercase),
            ),
            ct.attributes
                .iter()
                .flatten()
                .map(|a| (a.name.to_ascii_lowercase(), a.value.to_string()))
                .collect(),
        ),
        None => ((default.0.into(), default.1.into()), Vec::new()),
    }
}

/// The body parts between the boundaries (RFC 2046 §5.1.1): each starts
/// after a delimiter line and ends before the CRLF that comes before the
/// next.
fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i <= body.len() {
        let end = body[i..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(body.len(), |p| i + p + 1);
        let line = &body[i..end];
        if line.starts_with(delim) {
            let rest = &line[delim.len()..];
            let closing = rest.starts_with(b"--");
            let rest = if closing { &rest[2..] } else { rest };
            if rest
                .iter()
                .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            {
                if let Some(s) = start {
                    // The line break before the delimiter is the delimiter's.
                    let mut e = i;
                    if e > s && body[e - 1] == b'\n' {
                        e -= 1;
                        if e > s && body[e - 1] == b'\r' {
                            e -= 1;
                        }
                    }
                    parts.push(&body[s..e.max(s)]);
                }
                if closing {
                    return parts;
                }
                start = Some(end);
            }
        }
        if end == body.len() {
            break;
        }
        i = end;
    }
    // No closing delimiter: what follows the last one is a part.
    if let Some(s) = start {
        parts.push(&body[s.min(body.len())..]);
    }
    parts
}

impl<'a> Part<'a> {
    /// Splits a message (or a part, with the content type it has when its
    /// header names none).
    pub fn parse(raw: &'a [u8]) -> Part<'a> {
        let mut count = 0;
        Part::parse_with(raw, ("text", "plain"), 0, &mut count)
    }

    fn parse_with(
        raw: &'a [u8],
        default: (&str, &str),
        depth: usize,
        count: &mut usize,
    ) -> Part<'a> {
        *count += 1;
        let (header, body) = split_header(raw);
        let (content_type, params) = content_type_of(header, default);
        let mut kind = Kind::Leaf;
        if depth < MAX_DEPTH && *count < MAX_PARTS {
            if content_type.0 == "multipart" {
                let boundary = params
                    .iter()
                    .find(|(k, _)| k == "boundary")
                    .map(|(_, v)| v.clone());
                if let Some(b) = boundary.filter(|b| !b.is_empty()) {
                    let child_default = if content_type.1 == "digest" {
                        ("message", "rfc822")
                    } else {
                        ("text", "plain")
                    };
                    let mut children = Vec::new();
                    for p in split_multipart(body, &b) {
                        if *count >= MAX_PARTS {
                            break;
                        }
                        children.push(Part::parse_with(p, child_default, depth + 1, count));
                    }
                    if !children.is_empty() {
                        kind = Kind::Multipart(children);
                    }
                }
            } else if (content_type.0.as_str(), content_type.1.as_str()) == ("message", "rfc822")
                || (content_type.0.as_str(), content_type.1.as_str()) == ("message", "global")
            {
                kind = Kind::Message(Box::new(Part::parse_with(
                    body,
                    ("text", "plain"),
                    depth + 1,
                    count,
                )));
            }
        }
        Part {
            header,
            body,
            kind,
            content_type,
            params,
        }
    }

    /// The part a section's part numbers name (RFC 9051 §6.4.5: part 1 of
    /// a message that is not multipart is its body; the parts of a
    /// message/rfc822 part are those of the message inside).
    pub fn find(&self, path: &[u32]) -> Option<&Part<'a>> {
        let mut cur = self;
        let mut at_root = true;
        for &n in path {
            let i = usize::try_from(n).ok()?.checked_sub(1)?;
            cur = match &cur.kind {
                Kind::Multipart(children) => children.get(i)?,
                Kind::Message(inner) if !at_root => match &inner.kind {
                    Kind::Multipart(children) => children.get(i)?,
                    _ if i == 0 => inner,
                    _ => return None,
                },
                _ if i == 0 => cur,
                _ => return None,
            };
            at_root = false;
        }
        Some(cur)
    }

    /// The message a HEADER or TEXT section refers to: the whole message
    /// for no part numbers, the message inside a message/rfc822 part.
    pub fn message_at(&self, path: &[u32]) -> Option<&Part<'a>> {
        if path.is_empty() {
            return Some(self);
        }
        match &self.find(path)?.kind {
            Kind::Message(inner) => Some(inner),
            _ => None,
        }
    }

    fn field(&self, name: &str) -> Option<String> {
        fields(self.header)
            .into_iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v, _)| v)
    }

    /// BODYSTRUCTURE (`extensible`) or BODY of this part.
    pub fn write_structure(&self, out: &mut Vec<u8>, extensible: bool, utf8: bool) {
        out.push(b'(');
        match &self.kind {
            Kind::Multipart(children) => {
                for c in children {
                    c.write_structure(out, extensible, utf8);
                }
                out.push(b' ');
                string(
                    out,
                    self.content_type.1.to_ascii_uppercase().as_bytes(),
                    utf8,
                );
                if extensible {
                    out.push(b' ');
                    self.write_params(out, utf8);
                    self.write_extension(out, utf8);
                }
            }
            _ => {
                string(
                    out,
                    self.content_type.0.to_ascii_uppercase().as_bytes(),
                    utf8,
                );
                out.push(b' ');
                string(
                    out,
                    self.content_type.1.to_ascii_uppercase().as_bytes(),
                    utf8,
                );
                out.push(b' ');
                self.write_params(out, utf8);
                out.push(b' ');
                self.write_field(out, "Content-ID", utf8);
                out.push(b' ');
                self.write_field(out, "Content-Description", utf8);
                out.push(b' ');
                let cte = self
                    .field("Content-Transfer-Encoding")
                    .map_or_else(|| "7BIT".to_string(), |e| e.to_ascii_uppercase());
                string(out, cte.as_bytes(), utf8);
                out.extend_from_slice(format!(" {}", self.body.len()).as_bytes());
                match &self.kind {
                    Kind::Message(inner) => {
                        out.push(b' ');
                        inner.write_envelope(out, utf8);
                        out.push(b' ');
                        inner.write_structure(out, extensible, utf8);
                        out.extend_from_slice(format!(" {}", lines(self.body)).as_bytes());
                    }
                    _ if self.content_type.0 == "text" => {
                        out.extend_from_slice(format!(" {}", lines(self.body)).as_bytes());
                    }
                    _ => {}
                }
                if extensible {
                    out.push(b' ');
                    self.write_field(out, "Content-MD5", utf8);
                    self.write_extension(out, utf8);
                }
            }
        }
        out.push(b')');
    }

    fn write_params(&self, out: &mut Vec<u8>, utf8: bool) {
        write_pairs(
            out,
            self.params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            utf8,
        );
    }

    /// A header field's raw value, or NIL (body-fld-id, -desc, -md5,
    /// -lang, -loc).
    fn write_field(&self, out: &mut Vec<u8>, name: &str, utf8: bool) {
        nstring(out, self.field(name).as_deref().map(str::as_bytes), utf8);
    }

    /// body-fld-dsp SP body-fld-lang SP body-fld-loc.
    fn write_extension(&self, out: &mut Vec<u8>, utf8: bool) {
        out.push(b' ');
        let m = parsed(self.header);
        match m.as_ref().and_then(|m| m.content_disposition()) {
            Some(d) => {
                out.push(b'(');
                string(out, d.c_type.to_ascii_uppercase().as_bytes(), utf8);
                out.push(b' ');
                write_pairs(
                    out,
                    d.attributes
                        .iter()
                        .flatten()
                        .map(|a| (a.name.as_ref(), a.value.as_ref())),
                    utf8,
                );
                out.push(b')');
            }
            None => out.extend_from_slice(b"NIL"),
        }
        out.push(b' ');
        self.write_field(out, "Content-Language", utf8);
        out.push(b' ');
        self.write_field(out, "Content-Location", utf8);
    }

    /// ENVELOPE of this part as a message (RFC 9051 §7.5.2).
    pub fn write_envelope(&self, out: &mut Vec<u8>, utf8: bool) {
        let m = parsed(self.header);
        let raw = |name: &str| self.field(name);
        out.push(b'(');
        nstring(out, raw("Date").as_deref().map(str::as_bytes), utf8);
        out.push(b' ');
        nstring(out, raw("Subject").as_deref().map(str::as_bytes), utf8);
        let address = |name: HeaderName<'static>| {
            m.as_ref().and_then(|m| match m.header(name) {
                Some(HeaderValue::Address(a)) => Some(a.clone()),
                _ => None,
            })
        };
        let from = address(HeaderName::From);
        let sender = address(HeaderName::Sender).or_else(|| from.clone());
        let reply_to = address(HeaderName::ReplyTo).or_else(|| from.clone());
        for a in [
            from,
            sender,
            reply_to,
            address(HeaderName::To),
            address(HeaderName::Cc),
            address(HeaderName::Bcc),
        ] {
            out.push(b' ');
            write_addresses(out, a.as_ref(), utf8);
        }
        out.push(b' ');
        nstring(out, raw("In-Reply-To").as_deref().map(str::as_bytes), utf8);
        out.push(b' ');
        nstring(out, raw("Message-ID").as_deref().map(str::as_bytes), utf8);
        out.push(b')');
    }
}

/// A parameter list (RFC 9051 body-fld-param): `("NAME" "value" …)` with
/// names upper-cased and non-ASCII values as encoded words for clients
/// without UTF-8, or NIL when there are none.
fn write_pairs<'a>(out: &mut Vec<u8>, pairs: impl Iterator<Item = (&'a str, &'a str)>, utf8: bool) {
    let start = out.len();
    out.push(b'(');
    for (k, v) in pairs {
        if out.len() > start + 1 {
            out.push(b' ');
        }
        string(out, k.to_ascii_uppercase().as_bytes(), utf8);
        out.push(b' ');
        string(out, encode_word(v, utf8).as_bytes(), utf8);
    }
    if out.len() == start + 1 {
        out.truncate(start);
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b')');
    }
}

fn lines(body: &[u8]) -> usize {
    let n = body.iter().filter(|b| **b == b'\n').count();
    // A last line without its line break is a line too.
    n + usize::from(!body.is_empty() && !body.ends_with(b"\n"))
}

/// A decoded header text made safe for a client without UTF-8: RFC 2047
/// encoded word when it is not ASCII.
fn encode_word(s: &str, utf8: bool) -> String {
    use base64::Engine;
    if utf8 || s.is_ascii() {
        return s.to_string();
    }
    format!(
        "=?utf-8?b?{}?=",
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    )
}

fn write_address(out: &mut Vec<u8>, name: Option<&str>, email: Option<&str>, utf8: bool) {
    out.push(b'(');
    nstring(
        out,
        name.map(|n| encode_word(n, utf8))
            .as_deref()
            .map(str::as_bytes),
        utf8,
    );
    out.extend_from_slice(b" NIL ");
    let (mailbox, host) = match email {
        Some(e) => match e.rsplit_once('@') {
            Some((m, h)) => (m, h),
            None => (e, ""),
        },
        None => ("", ""),
    };
    string(out, mailbox.as_bytes(), utf8);
    out.push(b' ');
    string(out, host.as_bytes(), utf8);
    out.push(b')');
}

fn write_addresses(out: &mut Vec<u8>, a: Option<&Address<'_>>, utf8: bool) {
    let Some(a) = a else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let start = out.len();
    out.push(b'(');
    match a {
        Address::List(list) => {
            for addr in list {
                write_address(out, addr.name.as_deref(), addr.address.as_deref(), utf8);
            }
        }
        Address::Group(groups) => {
            for g in groups {
                match &g.name {
                    // RFC 9051 §7.5.2: a group is its name as a mailbox
                    // with NIL host, its members, then NIL mailbox.
                    Some(name) => {
                        out.extend_from_slice(b"(NIL NIL ");
                        string(out, encode_word(name, utf8).as_bytes(), utf8);
                        out.extend_from_slice(b" NIL)");
                        for addr in &g.addresses {
                            write_address(out, addr.name.as_deref(), addr.address.as_deref(), utf8);
                        }
                        out.extend_from_slice(b"(NIL NIL NIL NIL)");
                    }
                    None => {
                        for addr in &g.addresses {
                            write_address(out, addr.name.as_deref(), addr.address.as_deref(), utf8);
                        }
                    }
                }
            }
        }
    }
    if out.len() == start + 1 {
        out.truncate(start);
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b')');
    }
}

/// The header fields named (or, `not`, all but those), as written, with
/// the empty line after them (RFC 9051 §6.4.5 HEADER.FIELDS).
pub fn header_fields(header: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, _, bytes) in fields(header) {
        let listed = names.iter().any(|n| n.eq_ignore_ascii_case(name));
        if listed != not {
            out.extend_from_slice(bytes);
            if !bytes.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A leaf part's body without its transfer encoding (RFC 3516 BINARY);
/// `None` for an encoding this server cannot undo (the client is told
/// UNKNOWN-CTE).
pub fn decoded(part: &Part<'_>) -> Option<Vec<u8>> {
    use base64::Engine;
    let cte = part
        .field("Content-Transfer-Encoding")
        .map(|e| e.to_ascii_lowercase());
    match cte.as_deref() {
        None | Some("7bit" | "8bit" | "binary") => Some(part.body.to_vec()),
        Some("base64") => {
            let clean: Vec<u8> = part
                .body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(&clean)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&clean))
                .ok()
        }
        Some("quoted-printable") => Some(quoted_printable(part.body)),
        Some(_) => None,
    }
}

fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b == b'=' {
            // Soft line break: "=" at the end of a line.
            if body.get(i + 1) == Some(&b'\r') && body.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            if body.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if let (Some(h), Some(l)) = (
                body.get(i + 1).copied().and_then(hex),
                body.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIXED: &[u8] = b"From: Dr Jane Citizen <jane@example.test>\r\nTo: a@x.test, \"B, C\" <b@x.test>\r\n\
Subject: Referral\r\nDate: Tue, 24 Nov 2026 10:00:00 +1100\r\nMessage-ID: <m1@x.test>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDear colleague\r\nline 2\r\n\
--XX\r\nContent-Type: application/pdf; name=letter.pdf\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=letter.pdf\r\n\r\nJVBERi0=\r\n--XX\r\n\
Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n\
--YY\r\n\r\nplain\r\n--YY\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--YY--\r\n\r\n--XX--\r\nepilogue\r\n";

    #[test]
    fn sections_are_exact_byte_ranges() {
        let p = Part::parse(MIXED);
        assert!(p.header.ends_with(b"boundary=\"XX\"\r\n\r\n"));
        assert_eq!(p.find(&[1]).unwrap().body, b"Dear colleague\r\nline 2");
        assert_eq!(p.find(&[2]).unwrap().body, b"JVBERi0=");
        assert_eq!(decoded(p.find(&[2]).unwrap()).unwrap(), b"%PDF-");
        assert_eq!(p.find(&[3, 1]).unwrap().body, b"plain");
        assert_eq!(p.find(&[3, 2]).unwrap().body, b"<p>x</p>");
        assert_eq!(
            p.message_at(&[3]).unwrap().header,
            b"Subject: inner\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n"
        );
        assert!(p.find(&[4]).is_none());
        assert!(
            p.find(&[1, 1]).is_some(),
            "lenient: a leaf's part 1 is itself"
        );
        let plain = Part::parse(b"Subject: x\r\n\r\nbody\r\n");
        assert_eq!(plain.find(&[1]).unwrap().body, b"body\r\n");
        assert!(plain.find(&[2]).is_none());
        assert_eq!(
            header_fields(p.header, &["subject".into(), "to".into()], false),
            b"To: a@x.test, \"B, C\" <b@x.test>\r\nSubject: Referral\r\n\r\n"
        );
    }

    #[test]
    fn structure_and_envelope() {
        let p = Part::parse(MIXED);
        let mut out = Vec::new();
        p.write_structure(&mut out, true, false);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 22 2 NIL NIL NIL NIL)"), "{s}");
        assert!(s.contains("(\"APPLICATION\" \"PDF\" (\"NAME\" \"letter.pdf\") NIL NIL \"BASE64\" 8 NIL (\"ATTACHMENT\" (\"FILENAME\" \"letter.pdf\")) NIL NIL)"), "{s}");
        assert!(
            s.contains("\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\""),
            "{s}"
        );
        assert!(
            s.ends_with(" \"MIXED\" (\"BOUNDARY\" \"XX\") NIL NIL NIL)"),
            "{s}"
        );
        let mut env = Vec::new();
        p.write_envelope(&mut env, false);
        assert_eq!(
            String::from_utf8(env).unwrap(),
            "(\"Tue, 24 Nov 2026 10:00:00 +1100\" \"Referral\" ((\"Dr Jane Citizen\" NIL \"jane\" \"example.test\")) \
((\"Dr Jane Citizen\" NIL \"jane\" \"example.test\")) ((\"Dr Jane Citizen\" NIL \"jane\" \"example.test\")) \
((NIL NIL \"a\" \"x.test\")(\"B, C\" NIL \"b\" \"x.test\")) NIL NIL NIL \"<m1@x.test>\")"
        );
    }

    #[test]
    fn quoted_printable_decodes() {
        assert_eq!(quoted_printable(b"a=3Db=\r\nc=\nd=ZZ"), b"a=bcd=ZZ");
    }

    proptest! {
        #[test]
        fn never_panics(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
            let p = Part::parse(&raw);
            let mut out = Vec::new();
            p.write_structure(&mut out, true, false);
            p.write_envelope(&mut out, false);
            let _ = p.find(&[1, 2, 1]);
        }

        #[test]
        fn nested_multiparts_never_panic(depth in 0usize..60, junk in "[ -~\r\n]{0,60}") {
            let mut raw = String::new();
            for i in 0..depth {
                raw.push_str(&format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"));
            }
            raw.push_str(&junk);
            let p = Part::parse(raw.as_bytes());
            let mut out = Vec::new();
            p.write_structure(&mut out, true, false);
        }
    }
}
