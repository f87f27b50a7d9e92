//! Receipts that come back for sent mail: delivery status notifications
//! (DSN, RFC 3464) and message disposition notifications (MDN, RFC 8098),
//! read from a received message, and what they mean for the audit trail.
//!
//! Both are `multipart/report` (RFC 6522) messages whose machine-readable
//! part is a block of header-like fields; a DSN has one block for the
//! message and one per recipient (RFC 3464 §2.1).

use crate::audit::{EventKind, TrailEvent};
use mail_parser::{MessageParser, MimeHeaders, PartType};

/// RFC 3464 §2.3.3 action of one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DsnAction {
    Failed,
    Delayed,
    Delivered,
    Relayed,
    Expanded,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DsnRecipient {
    /// Final-Recipient (or Original-Recipient), the address only.
    pub recipient: Option<String>,
    pub action: DsnAction,
    /// RFC 3463 status, e.g. "5.1.1".
    pub status: Option<String>,
    /// Diagnostic-Code, without its type ("550 5.1.1 no such user").
    pub diagnostic: Option<String>,
    pub remote_mta: Option<String>,
    /// What an ATHEN server's downloader notice says
    /// (`X-Athen-Import: downloaded; file=NAME`, see [`crate::import`]).
    pub import: Option<ImportNotice>,
}

/// A receiving ATHEN's word on the clinical system: the letter's import
/// file was downloaded (with action `relayed`) or imported (`delivered`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportNotice {
    pub imported: bool,
    pub file: Option<String>,
}

/// `downloaded; file=NMC00001.HL7` → the notice; anything else → none.
fn import_notice(value: &str) -> Option<ImportNotice> {
    let mut parts = value.split(';').map(str::trim);
    let imported = match parts.next()?.to_ascii_lowercase().as_str() {
        "downloaded" => false,
        "imported" => true,
        _ => return None,
    };
    let file = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("file"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty());
    Some(ImportNotice { imported, file })
}

/// RFC 8098 §3.2.6 disposition type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    Displayed,
    Deleted,
    Dispatched,
    Processed,
}

/// What a receipt says, and how to find the message it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Receipt {
    Delivery {
        /// Original-Envelope-Id: our ENVID.
        envid: Option<String>,
        /// The Message-ID of the returned original headers, or In-Reply-To.
        original_message_id: Option<String>,
        recipients: Vec<DsnRecipient>,
    },
    Disposition {
        original_message_id: Option<String>,
        /// Final-Recipient: who read it.
        recipient: Option<String>,
        disposition: Disposition,
    },
}

/// The most fields read from a report's machine part.
const MAX_FIELDS: usize = 1_000;

/// Reads a receipt, or `None` if the message is not one (or is one too
/// damaged to say anything: it is then delivered as ordinary mail).
pub fn parse(raw: &[u8]) -> Option<Receipt> {
    let msg = MessageParser::default().parse(raw)?;
    let ctype = msg.content_type()?;
    if !ctype.ctype().eq_ignore_ascii_case("multipart")
        || !ctype
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    {
        return None;
    }
    let in_reply_to = msg
        .in_reply_to()
        .as_text()
        .map(|s| s.trim_matches(['<', '>', ' ']).to_string());
    let mut delivery: Option<Vec<Vec<(String, String)>>> = None;
    let mut disposition: Option<Vec<(String, String)>> = None;
    let mut original_id = None;
    for part in msg.parts.iter().skip(1) {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let kind = format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase()
        );
        match kind.as_str() {
            "message/delivery-status" | "message/global-delivery-status" => {
                delivery = Some(field_groups(&String::from_utf8_lossy(&body(part))));
            }
            "message/disposition-notification" | "message/global-disposition-notification" => {
                disposition = field_groups(&String::from_utf8_lossy(&body(part)))
                    .into_iter()
                    .next();
            }
            "text/rfc822-headers" | "message/rfc822" | "message/global" => {
                original_id = match &part.body {
                    PartType::Message(m) => m.message_id().map(str::to_string),
                    _ => MessageParser::default()
                        .parse_headers(body(part).as_ref())
                        .and_then(|m| m.message_id().map(str::to_string)),
                };
            }
            _ => {}
        }
    }
    let get = |fields: &[(String, String)], name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(groups) = delivery {
        let (per_message, per_recipient) = groups.split_first()?;
        let recipients: Vec<DsnRecipient> = per_recipient
            .iter()
            .filter_map(|f| {
                let action = match get(f, "action")?.to_ascii_lowercase().as_str() {
                    "failed" => DsnAction::Failed,
                    "delayed" => DsnAction::Delayed,
                    "delivered" => DsnAction::Delivered,
                    "relayed" => DsnAction::Relayed,
                    "expanded" => DsnAction::Expanded,
                    _ => return None,
                };
                Some(DsnRecipient {
                    recipient: get(f, "final-recipient")
                        .or_else(|| get(f, "original-recipient"))
                        .map(|v| after_type(&v)),
                    action,
                    status: get(f, "status"),
                    diagnostic: get(f, "diagnostic-code").map(|v| after_type(&v)),
                    remote_mta: get(f, "remote-mta").map(|v| after_type(&v)),
                    import: get(f, "x-athen-import").and_then(|v| import_notice(&v)),
                })
            })
            .collect();
        if recipients.is_empty() {
            return None;
        }
        return Some(Receipt::Delivery {
            envid: get(per_message, "original-envelope-id"),
            original_message_id: original_id.or(in_reply_to),
            recipients,
        });
    }
    let fields = disposition?;
    // "automatic-action/MDN-sent-automatically; displayed/error"
    let value = get(&fields, "disposition")?;
    let kind = value
        .split_once(';')
        .map(|(_, t)| t)
        .unwrap_or(&value)
        .split(['/', ' '])
        .find(|w| !w.is_empty())?
        .to_ascii_lowercase();
    let disposition = match kind.as_str() {
        "displayed" => Disposition::Displayed,
        "deleted" => Disposition::Deleted,
        "dispatched" => Disposition::Dispatched,
        "processed" => Disposition::Processed,
        _ => return None,
    };
    Some(Receipt::Disposition {
        original_message_id: get(&fields, "original-message-id")
            .map(|v| v.trim_matches(['<', '>', ' ']).to_string())
            .or(in_reply_to),
        recipient: get(&fields, "final-recipient").map(|v| after_type(&v)),
        disposition,
    })
}

/// A part's body as bytes, whatever mail-parser made of it.
fn body<'a>(part: &'a mail_parser::MessagePart<'a>) -> std::borrow::Cow<'a, [u8]> {
    match &part.body {
        PartType::Text(t) => std::borrow::Cow::Borrowed(t.as_bytes()),
        PartType::Message(m) => std::borrow::Cow::Borrowed(m.raw_message()),
        _ => std::borrow::Cow::Borrowed(part.contents()),
    }
}

/// "rfc822; jane@example.org" → "jane@example.org".
fn after_type(value: &str) -> String {
    value
        .split_once(';')
        .map(|(_, v)| v)
        .unwrap_or(value)
        .trim()
        .to_string()
}

/// RFC 3464 §2.1: groups of fields separated by blank lines; names lower
/// case, folded lines joined, comments left in place.
fn field_groups(text: &str) -> Vec<Vec<(String, String)>> {
    let mut groups = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    let mut count = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                groups.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = current.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            count += 1;
            if count > MAX_FIELDS {
                break;
            }
            current.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

impl Receipt {
    /// How the receipt is matched to a sent message: envelope id first
    /// (delivery reports), then the original Message-ID.
    pub fn keys(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Receipt::Delivery {
                envid,
                original_message_id,
                ..
            } => (envid.as_deref(), original_message_id.as_deref()),
            Receipt::Disposition {
                original_message_id,
                ..
            } => (None, original_message_id.as_deref()),
        }
    }

    /// Whether the report says a delivery failed: it is then also shown in
    /// the inbox, so the sender sees it and can act.
    pub fn reports_failure(&self) -> bool {
        matches!(self, Receipt::Delivery { recipients, .. }
            if recipients.iter().any(|r| r.action == DsnAction::Failed))
    }

    /// The trail events of the sent message this receipt is about (given
    /// its envelope id and Message-ID, as the trail knows them).
    pub fn events(&self, envid: Option<&str>, message_id: Option<&str>) -> Vec<TrailEvent> {
        let base = TrailEvent {
            envid: envid.map(str::to_string),
            message_id: message_id.map(str::to_string),
            ..TrailEvent::default()
        };
        match self {
            Receipt::Delivery { recipients, .. } => recipients
                .iter()
                .map(|r| {
                    // The recipient's downloader, as its server tells it
                    // (the action must agree with the notice).
                    match (&r.import, r.action) {
                        (Some(n), DsnAction::Relayed) if !n.imported => {
                            return TrailEvent {
                                kind: Some(EventKind::Downloaded),
                                correspondent: r.recipient.clone(),
                                detail: Some("downloaded into the recipient's clinical system import folder, awaiting import".into()),
                                file: n.file.clone(),
                                ..base.clone()
                            };
                        }
                        (Some(n), DsnAction::Delivered) if n.imported => {
                            return TrailEvent {
                                kind: Some(EventKind::Imported),
                                correspondent: r.recipient.clone(),
                                detail: Some("processed by the recipient's clinical system".into()),
                                file: n.file.clone(),
                                ..base.clone()
                            };
                        }
                        _ => {}
                    }
                    let kind = match r.action {
                        DsnAction::Failed => EventKind::Failed,
                        DsnAction::Delayed => EventKind::Delayed,
                        DsnAction::Relayed => EventKind::Relayed,
                        DsnAction::Delivered | DsnAction::Expanded => EventKind::Delivered,
                    };
                    // The status code leads, unless the diagnostic (a
                    // server's reply) already carries it.
                    let detail = match (&r.status, &r.diagnostic) {
                        (Some(s), Some(d)) if !d.contains(s.as_str()) => Some(format!("{s} {d}")),
                        (_, Some(d)) => Some(d.clone()),
                        (Some(s), None) => Some(format!("status {s}")),
                        (None, None) => None,
                    };
                    TrailEvent {
                        kind: Some(kind),
                        correspondent: r.recipient.clone(),
                        detail,
                        remote_host: r.remote_mta.clone(),
                        ..base.clone()
                    }
                })
                .collect(),
            Receipt::Disposition {
                recipient,
                disposition,
                ..
            } => vec![TrailEvent {
                kind: Some(match disposition {
                    Disposition::Displayed => EventKind::Read,
                    Disposition::Deleted => EventKind::Deleted,
                    Disposition::Dispatched => EventKind::Dispatched,
                    Disposition::Processed => EventKind::Processed,
                }),
                correspondent: recipient.clone(),
                detail: Some("read receipt (RFC 8098)".into()),
                ..base
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A bounce as Postfix writes it (RFC 3464), with the original headers.
    const POSTFIX_BOUNCE: &str = "From: MAILER-DAEMON@mx.example (Mail Delivery System)\r\n\
Subject: Undelivered Mail Returned to Sender\r\nTo: jane@athen.localhost\r\n\
Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"ABC/mx.example\"\r\n\r\n\
--ABC/mx.example\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
I'm sorry to have to inform you that your message could not\r\nbe delivered.\r\n\r\n\
--ABC/mx.example\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; mx.example\r\nX-Postfix-Queue-ID: 4F1C2\r\nOriginal-Envelope-Id: E123\r\n\
Arrival-Date: Tue, 24 Nov 2026 10:00:00 +1100 (AEDT)\r\n\r\n\
Final-Recipient: rfc822; nobody@mx.example\r\nOriginal-Recipient: rfc822;nobody@mx.example\r\n\
Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.example\r\n\
Diagnostic-Code: x-unix; user unknown\r\n\r\n\
--ABC/mx.example\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n\
From: Jane <jane@athen.localhost>\r\nMessage-ID: <orig-1@athen.localhost>\r\nSubject: Referral\r\n\r\n\
--ABC/mx.example--\r\n";

    #[test]
    fn a_postfix_bounce() {
        let r = parse(POSTFIX_BOUNCE.as_bytes()).unwrap();
        assert_eq!(
            r,
            Receipt::Delivery {
                envid: Some("E123".into()),
                original_message_id: Some("orig-1@athen.localhost".into()),
                recipients: vec![DsnRecipient {
                    recipient: Some("nobody@mx.example".into()),
                    action: DsnAction::Failed,
                    status: Some("5.1.1".into()),
                    diagnostic: Some("user unknown".into()),
                    remote_mta: Some("mx.example".into()),
                    import: None,
                }],
            }
        );
        assert!(r.reports_failure());
        let e = r.events(Some("E123"), Some("orig-1@athen.localhost"));
        assert_eq!(e[0].kind, Some(EventKind::Failed));
        assert_eq!(e[0].detail.as_deref(), Some("5.1.1 user unknown"));
    }

    #[test]
    fn a_thunderbird_read_receipt() {
        let mdn = "From: Dr Anna <anna@southside.example>\r\nTo: jane@athen.localhost\r\n\
Subject: Read: Referral\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=disposition-notification; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nThe message was displayed.\r\n\r\n\
--b1\r\nContent-Type: message/disposition-notification; name=\"MDNPart2.txt\"\r\n\
Content-Disposition: inline\r\n\r\n\
Reporting-UA: southside.example; Thunderbird 128.5.0\r\n\
Final-Recipient: rfc822;anna@southside.example\r\n\
Original-Message-ID: <orig-2@athen.localhost>\r\n\
Disposition: manual-action/MDN-sent-manually; displayed\r\n\r\n\
--b1\r\nContent-Type: text/rfc822-headers; name=\"MDNPart3.txt\"\r\n\r\n\
Message-ID: <orig-2@athen.localhost>\r\nSubject: Referral\r\n\r\n--b1--\r\n";
        let r = parse(mdn.as_bytes()).unwrap();
        assert_eq!(
            r,
            Receipt::Disposition {
                original_message_id: Some("orig-2@athen.localhost".into()),
                recipient: Some("anna@southside.example".into()),
                disposition: Disposition::Displayed,
            }
        );
        assert!(!r.reports_failure());
        assert_eq!(
            r.events(None, Some("orig-2@athen.localhost"))[0].kind,
            Some(EventKind::Read)
        );
    }

    #[test]
    fn ordinary_mail_and_damaged_reports_are_not_receipts() {
        assert_eq!(parse(b"Subject: hi\r\n\r\nhello\r\n"), None);
        let no_action = POSTFIX_BOUNCE.replace("Action: failed\r\n", "");
        assert_eq!(parse(no_action.as_bytes()), None);
        assert_eq!(parse(b""), None);
    }

    proptest! {
        #[test]
        fn any_report_body_parses_without_panic(body in "\\PC{0,400}") {
            let raw = format!("Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n\r\ntext\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\n{body}\r\n--x--\r\n");
            let _ = parse(raw.as_bytes());
            let mdn = raw.replace("delivery-status", "disposition-notification");
            let _ = parse(mdn.as_bytes());
        }
    }
}
