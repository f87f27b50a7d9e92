//! A whole message (.eml): the best body (HTML over plain text in
//! multipart/alternative), then attachments that are letters; the subject
//! (unfolded and decoded), the `X-Athen-Patient` header and the date.

use crate::date::Date;
use crate::document::Body;
use crate::read::{html, text};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde::Serialize;

/// Inline images this small are letterhead decoration (the original's
/// rule); a bigger image is clinical content a text import would lose.
const DECORATION_BYTES: usize = 16 * 1024;

/// What a message holds for conversion.
#[derive(Clone, Debug, Default)]
pub struct Letter {
    pub body: Body,
    pub subject: Option<String>,
    pub patient_header: Option<String>,
    /// The `Date:` header as a calendar date (in the sender's zone).
    pub sent: Option<Date>,
    /// What was done with each part, for the record.
    pub parts: Vec<PartNote>,
    /// The message's own text when the letter came as an attachment
    /// behind it ("please find attached"): not part of the letter, but
    /// read for an author when the letter has no signature.
    pub cover_note: Option<Body>,
    /// Set when the message holds content a letter import would lose.
    pub not_possible: Option<String>,
    /// The letter's PDF, when exactly one PDF attachment was read as a
    /// letter (for the HL7 PDF display).
    pub original_pdf: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartNote {
    pub content_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    pub size: usize,
    /// "body", "letter", "decoration (ignored)", "not read: …".
    pub used_as: String,
}

/// Reads a message. Never fails: a message that cannot be parsed at all
/// comes back with an empty body and a reason.
pub fn read(raw: &[u8]) -> Letter {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return Letter {
            not_possible: Some("not possible, because the message cannot be parsed".into()),
            ..Letter::default()
        };
    };
    let mut letter = Letter {
        subject: msg.subject().map(str::to_string),
        patient_header: msg
            .header("X-Athen-Patient")
            .and_then(|h| h.as_text())
            .map(str::to_string),
        sent: msg.date().and_then(|d| Date::new(d.year, d.month, d.day)),
        ..Letter::default()
    };
    // RFC 2046 §5.1.4: in multipart/alternative the richest is last;
    // mail-parser lists HTML bodies, falling back to text ones.
    let bodies: Vec<u32> = msg
        .html_body
        .iter()
        .filter(|&&i| msg.part(i).is_some_and(|p| p.is_text_html()))
        .chain(msg.text_body.iter())
        .chain(msg.html_body.iter())
        .copied()
        .collect();
    let mut seen = Vec::new();
    for i in bodies {
        let Some(part) = msg.part(i) else {
            continue;
        };
        if seen.contains(&i) || (!part.is_text() && !part.is_text_html()) {
            continue;
        }
        seen.push(i);
        // The first is the body; the others (a plain-text alternative, or
        // text after an attachment in multipart/mixed) are noted.
        let role = if letter.body.is_empty() {
            letter.body = read_text_part(part);
            "body"
        } else {
            "alternative (not used)"
        };
        letter.parts.push(note(part, role.into()));
    }
    let mut pdfs = 0;
    let text = std::mem::take(&mut letter.body);
    for part in msg.attachments() {
        let ctype = content_type(part);
        let size = part.len();
        let role = match &part.body {
            PartType::Text(t) if ctype == "text/plain" => {
                append(&mut letter.body, text::read(t));
                "letter".to_string()
            }
            PartType::Html(h) => {
                append(&mut letter.body, html::read(h));
                "letter".to_string()
            }
            _ if ctype
                == "application/vnd.openxmlformats-officedocument.wordprocessingml.document" =>
            {
                match super::docx::read(part.contents()) {
                    Ok(body) => {
                        append(&mut letter.body, body);
                        "letter".to_string()
                    }
                    Err(e) => format!("not read: {e}"),
                }
            }
            _ if ctype == "application/pdf"
                || (ctype == "application/octet-stream"
                    && part
                        .attachment_name()
                        .is_some_and(|n| n.to_ascii_lowercase().ends_with(".pdf"))) =>
            {
                match super::pdf::read(part.contents()) {
                    Ok(body) => {
                        append(&mut letter.body, body);
                        pdfs += 1;
                        letter.original_pdf = (pdfs == 1).then(|| part.contents().to_vec());
                        "letter".to_string()
                    }
                    // A PDF that cannot be read is a letter a text import
                    // would lose.
                    Err(e) => {
                        letter
                            .not_possible
                            .get_or_insert_with(|| format!("not possible, because {e}"));
                        format!("not read: {e}")
                    }
                }
            }
            _ if ctype == "text/rtf" || ctype == "application/rtf" => {
                append(&mut letter.body, super::rtf::read(part.contents()));
                "letter".to_string()
            }
            _ if ctype.starts_with("image/") && size <= DECORATION_BYTES => {
                "decoration (ignored)".to_string()
            }
            _ if ctype.starts_with("image/") => {
                letter.not_possible.get_or_insert_with(|| {
                    format!(
                        "not possible, because the message holds an image ({} KB) that a text import would lose",
                        size / 1024
                    )
                });
                "image (not convertible)".to_string()
            }
            _ => format!("not read: {ctype} letters are not read yet"),
        };
        letter.parts.push(note(part, role));
    }
    // A short text before attached letters is a cover note; a long one is
    // a letter of its own, with the attachments after it.
    if letter.body.is_empty() {
        letter.body = text;
    } else if is_cover_note(&text) {
        if let Some(p) = letter.parts.iter_mut().find(|p| p.used_as == "body") {
            p.used_as = "cover note".into();
        }
        letter.cover_note = Some(text);
    } else {
        let attached = std::mem::replace(&mut letter.body, text);
        append(&mut letter.body, attached);
    }
    letter
}

/// At most this many lines of text before an attached letter make a cover
/// note ("Please find attached…", a greeting and a signature).
const COVER_NOTE_LINES: usize = 25;

fn is_cover_note(text: &Body) -> bool {
    text.lines().iter().filter(|l| !l.trim().is_empty()).count() <= COVER_NOTE_LINES
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .map(|c| {
            format!(
                "{}/{}",
                c.ctype().to_ascii_lowercase(),
                c.subtype().unwrap_or("").to_ascii_lowercase()
            )
        })
        .unwrap_or_else(|| "text/plain".into())
}

fn note(part: &mail_parser::MessagePart<'_>, used_as: String) -> PartNote {
    PartNote {
        content_type: content_type(part),
        file_name: part.attachment_name().map(str::to_string),
        size: part.len(),
        used_as,
    }
}

fn read_text_part(part: &mail_parser::MessagePart<'_>) -> Body {
    match &part.body {
        PartType::Html(h) => html::read(h),
        PartType::Text(t) => {
            // RFC 3676: format=flowed text is unwrapped first.
            let flowed = part.content_type().is_some_and(|c| {
                c.attribute("format")
                    .is_some_and(|f| f.eq_ignore_ascii_case("flowed"))
            });
            if flowed {
                let delsp = part.content_type().is_some_and(|c| {
                    c.attribute("delsp")
                        .is_some_and(|d| d.eq_ignore_ascii_case("yes"))
                });
                text::read(&text::unflow(t, delsp))
            } else {
                text::read(t)
            }
        }
        _ => Body::default(),
    }
}

fn append(body: &mut Body, more: Body) {
    body.blocks.extend(more.blocks);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_wins_over_text_and_headers_are_read() {
        let raw = b"From: a@b.test\r\nTo: c@d.test\r\nDate: Tue, 24 Nov 2026 10:00:00 +1100\r\n\
Subject: [SMITH, John (M) DOB:01/02/1960]\r\n Referral letter\r\n\
X-Athen-Patient: family=\"Smith\"; given=John; dob=1960-02-01\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n\r\nDear Dr X, \r\nplain\r\n\
--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Dear Dr X,</p><p><b>rich</b></p>\r\n--b--\r\n";
        let l = read(raw);
        assert_eq!(
            l.subject.as_deref(),
            Some("[SMITH, John (M) DOB:01/02/1960] Referral letter")
        );
        assert!(l.patient_header.unwrap().contains("family=\"Smith\""));
        assert_eq!(l.sent.unwrap().iso(), "2026-11-24");
        assert_eq!(l.body.lines(), ["Dear Dr X,", "", "rich"]);
        assert_eq!(l.parts.len(), 2);
        assert_eq!(l.parts[1].used_as, "alternative (not used)");
        assert!(l.not_possible.is_none());
    }

    #[test]
    fn flowed_plain_text_and_attachments() {
        let big = "A".repeat(30_000);
        let raw = format!(
            "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain; format=flowed; delsp=yes\r\n\r\nOne long li \r\nne.\r\n\
--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=logo.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=letter.pdf\r\n\r\n%PDF-1.4\r\n\
--b\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename=xray.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\n{big}\r\n--b--\r\n"
        );
        let l = read(raw.as_bytes());
        assert_eq!(l.body.lines(), ["One long line."]);
        let roles: Vec<&str> = l.parts.iter().map(|p| p.used_as.as_str()).collect();
        assert_eq!(
            roles,
            [
                "body",
                "decoration (ignored)",
                "not read: the PDF is damaged and cannot be read",
                "image (not convertible)"
            ]
        );
        assert!(l.not_possible.unwrap().contains("PDF is damaged"));
    }

    #[test]
    fn garbage_is_a_reason_not_a_panic() {
        let l = read(b"");
        assert!(l.not_possible.is_some() || l.body.is_empty());
        let _ = read(&[0xff, 0xfe, b'\r', b'\n', b'\r', b'\n', 0x80]);
    }
}
