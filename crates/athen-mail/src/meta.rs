//! What the mailbox keeps about a message besides its body: the header
//! fields a list shows. Stored only encrypted with the mailbox data key.

use mail_parser::{Address, MessageParser};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    pub subject: Option<String>,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub date: Option<String>,
    pub message_id: Option<String>,
    /// True when the message could not be parsed as MIME; it is still kept
    /// whole, exactly as received.
    pub unparsed: bool,
    /// The file made for the clinical system and attached at unspool, for
    /// the downloader (letters filed before version 0.1's migration 12
    /// have none here, even if converted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_file: Option<ImportFile>,
}

/// A file made for the clinical system, as the downloader is told of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFile {
    /// The 8.3 name it is written under (`NMC00001.HL7`).
    pub name: String,
    /// The delivery format that made it (`HL7 REF`, `PIT`…).
    pub format: String,
    pub content_type: String,
    pub size: u64,
    /// SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
}

fn addresses(a: Option<&Address>) -> Vec<String> {
    let Some(a) = a else { return Vec::new() };
    a.iter()
        .filter_map(|addr| {
            let email = addr.address.as_deref();
            match (addr.name.as_deref(), email) {
                (Some(n), Some(e)) => Some(format!("{n} <{e}>")),
                (None, Some(e)) => Some(e.to_string()),
                (Some(n), None) => Some(n.to_string()),
                (None, None) => None,
            }
        })
        .collect()
}

/// Reads the list fields of a raw message. Never fails: anything that does
/// not parse is simply absent, and `unparsed` says so.
pub fn extract(raw: &[u8]) -> MessageMeta {
    match MessageParser::default().parse_headers(raw) {
        Some(m) => MessageMeta {
            subject: m.subject().map(str::to_string),
            from: addresses(m.from()),
            to: addresses(m.to()),
            date: m.date().map(|d| d.to_rfc3339()),
            message_id: m.message_id().map(str::to_string),
            unparsed: false,
            import_file: None,
        },
        None => MessageMeta {
            unparsed: true,
            ..MessageMeta::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_common_fields() {
        let raw = b"From: Dr Jane Citizen <jane@example.test>\r\nTo: reception@athen.localhost\r\n\
Subject: [CITIZEN, John (M) DOB:01/02/1960] Referral\r\n\
Date: Tue, 24 Nov 2026 10:00:00 +1100\r\nMessage-ID: <abc@example.test>\r\n\r\nBody\r\n";
        let m = extract(raw);
        assert_eq!(
            m.subject.as_deref(),
            Some("[CITIZEN, John (M) DOB:01/02/1960] Referral")
        );
        assert_eq!(m.from, vec!["Dr Jane Citizen <jane@example.test>"]);
        assert_eq!(m.to, vec!["reception@athen.localhost"]);
        assert_eq!(m.message_id.as_deref(), Some("abc@example.test"));
        assert!(m.date.is_some());
    }

    #[test]
    fn garbage_gives_empty_meta_not_a_panic() {
        for raw in [
            &b""[..],
            b"\xff\xfe\x00",
            b"no headers at all",
            b":::\r\n\r\n",
        ] {
            let _ = extract(raw);
        }
    }
}
