//! One call from a file's bytes to what `athen convert --to json` prints
//! (schema `athen.convert.v1`, documented in docs/clinical-json.md).

use crate::date::Date;
use crate::document::Body;
use crate::extract::{self, Context, Extraction};
use crate::read::mail::{self, PartNote};
use crate::read::{docx, html, pdf, rtf, text};
use serde::Serialize;

/// The kinds of input, told by file name and content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    Message,
    Text,
    Html,
    Rtf,
    Docx,
    Pdf,
}

/// The result printed as JSON: stable field names, absent values left out.
#[derive(Clone, Debug, Serialize)]
pub struct Conversion {
    /// Always `athen.convert.v1` for this layout.
    pub schema: &'static str,
    pub input: InputKind,
    #[serde(flatten)]
    pub extraction: Extraction,
    /// What was done with each MIME part (messages only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartNote>,
    pub body: Body,
    /// The PDF the letter came as (a PDF file, or a message whose letter
    /// is one PDF attachment), for the HL7 PDF display.
    #[serde(skip)]
    pub original_pdf: Option<Vec<u8>>,
}

/// Tells the input kind from the file name, else from the first bytes.
pub fn input_kind(file_name: &str, bytes: &[u8]) -> Result<InputKind, String> {
    let lower = file_name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "eml" | "msg822" => return Ok(InputKind::Message),
        "txt" | "text" => return Ok(InputKind::Text),
        "html" | "htm" | "xhtml" => return Ok(InputKind::Html),
        "rtf" => return Ok(InputKind::Rtf),
        "docx" => return Ok(InputKind::Docx),
        "pdf" => return Ok(InputKind::Pdf),
        "doc" => {
            return Err(
                "Word 97–2003 (.doc) letters are not read; save it as .docx or PDF, or give a .txt, .html, .rtf or .eml file"
                    .into(),
            );
        }
        _ => {}
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    if bytes.starts_with(b"%PDF-") {
        Ok(InputKind::Pdf)
    } else if bytes.starts_with(b"PK\x03\x04") {
        Ok(InputKind::Docx)
    } else if head.starts_with("{\\rtf") {
        Ok(InputKind::Rtf)
    } else if head.trim_start().starts_with('<') {
        Ok(InputKind::Html)
    } else if head.lines().next().is_some_and(|l| {
        l.contains(':') && !l.contains(' ')
            || l.starts_with("from:")
            || l.starts_with("received:")
            || l.starts_with("return-path:")
            || l.starts_with("subject:")
    }) {
        Ok(InputKind::Message)
    } else {
        Ok(InputKind::Text)
    }
}

/// Text as stored by Windows programs is often Windows-1252; UTF-8 is
/// tried first (a BOM is dropped).
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| cp1252(b)).collect(),
    }
}

/// Windows-1252 (also PDF's WinAnsiEncoding), byte to character.
pub(crate) fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// Reads `bytes` as `kind` and extracts what the letter says.
pub fn convert(kind: InputKind, bytes: &[u8], ctx: &Context) -> Conversion {
    let mut original_pdf = None;
    let mut cover_note = None;
    let (body, subject, header, sent, parts, not_possible) = match kind {
        InputKind::Message => {
            let l = mail::read(bytes);
            original_pdf = l.original_pdf;
            cover_note = l.cover_note;
            (
                l.body,
                l.subject,
                l.patient_header,
                l.sent,
                l.parts,
                l.not_possible,
            )
        }
        InputKind::Text => (
            text::read(&decode_text(bytes)),
            None,
            None,
            None,
            vec![],
            None,
        ),
        InputKind::Html => (
            html::read(&decode_text(bytes)),
            None,
            None,
            None,
            vec![],
            None,
        ),
        InputKind::Rtf => (rtf::read(bytes), None, None, None, vec![], None),
        InputKind::Docx | InputKind::Pdf => {
            let read = if kind == InputKind::Docx {
                docx::read(bytes)
            } else {
                pdf::read(bytes).inspect(|_| original_pdf = Some(bytes.to_vec()))
            };
            match read {
                Ok(body) => (body, None, None, None, vec![], None),
                Err(e) => (
                    Body::default(),
                    None,
                    None,
                    None,
                    vec![],
                    Some(format!("not possible, because {e}")),
                ),
            }
        }
    };
    let ctx = Context {
        sent: sent.or(ctx.sent),
        ..ctx.clone()
    };
    let mut extraction = extract::extract_with_cover_note(
        header.as_deref(),
        subject.as_deref(),
        &body,
        cover_note.as_ref(),
        &ctx,
    );
    // A letter that could not be read at all says so, rather than "no
    // patient named".
    if let Some(why) = not_possible {
        extraction.not_possible = Some(why);
    }
    Conversion {
        schema: "athen.convert.v1",
        input: kind,
        extraction,
        parts,
        body,
        original_pdf,
    }
}

/// Today's date for a Unix time, for [`Context::today`].
pub fn today(unix: i64) -> Date {
    Date::from_unix(unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_encodings() {
        assert_eq!(input_kind("a.EML", b""), Ok(InputKind::Message));
        assert_eq!(input_kind("letter", b"  <html>"), Ok(InputKind::Html));
        assert_eq!(
            input_kind("letter", b"From: a@b\r\n"),
            Ok(InputKind::Message)
        );
        assert_eq!(input_kind("letter", b"Dear Dr X"), Ok(InputKind::Text));
        assert_eq!(input_kind("a.PDF", b""), Ok(InputKind::Pdf));
        assert_eq!(input_kind("letter", b"%PDF-1.7\n"), Ok(InputKind::Pdf));
        assert!(
            input_kind("a.doc", b"")
                .unwrap_err()
                .contains(".docx or PDF")
        );
        assert_eq!(input_kind("letter", b"{\\rtf1 x}"), Ok(InputKind::Rtf));
        assert_eq!(decode_text(b"M\xfcller \x96 \x93x\x94"), "Müller – “x”");
        assert_eq!(decode_text("\u{feff}Müller".as_bytes()), "Müller");
    }
}
