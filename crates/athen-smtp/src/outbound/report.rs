//! Delivery status notifications (RFC 3464) sent back to the sender:
//! "delayed", "failed" and "relayed" from the queue, "delivered" when mail
//! that asked for it (NOTIFY=SUCCESS) reaches a mailbox here. Laid out as ATHEN always
//! did (../shared/reference/athen-original.md "Generated DSNs"): a human
//! part, the machine-readable `message/delivery-status` part, and on failure
//! the original header section (RFC 3462 `text/rfc822-headers`).

use athen_core::clock::{UnixTime, rfc5322};
use athen_core::queue::{QueuedMessage, QueuedRecipient};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delayed,
    Relayed,
    Delivered,
}

/// The message a report is about.
pub struct ReportOn<'a> {
    /// The envelope sender, to whom the report goes.
    pub mail_from: &'a str,
    pub envid: Option<&'a str>,
    pub arrived: UnixTime,
    /// The message: its header section is quoted in failure reports, or
    /// all of it with `return_full`.
    pub original: &'a [u8],
    /// RFC 3461 RET=FULL.
    pub return_full: bool,
}

impl<'a> ReportOn<'a> {
    pub fn queued(msg: &'a QueuedMessage, original: &'a [u8]) -> Self {
        Self {
            mail_from: &msg.mail_from,
            envid: msg.envid.as_deref(),
            arrived: msg.created_at,
            original,
            return_full: msg.ret == Some(athen_core::queue::Ret::Full),
        }
    }
}

/// One recipient's part of a report.
#[derive(Clone)]
pub struct RecipientReport<'a> {
    pub address: &'a str,
    /// RFC 3461 ORCPT, as given (`rfc822;addr`).
    pub orcpt: Option<&'a str>,
    /// The reply or outcome, e.g. "relayed to mx.example: 250 OK".
    pub reply: Option<&'a str>,
    pub remote_host: Option<&'a str>,
    /// How the connection was protected.
    pub tls: Option<&'a str>,
}

impl<'a> From<&'a QueuedRecipient> for RecipientReport<'a> {
    fn from(r: &'a QueuedRecipient) -> Self {
        Self {
            address: &r.address,
            orcpt: r.orcpt.as_deref(),
            reply: r.last_reply.as_deref(),
            remote_host: r.remote_host.as_deref(),
            tls: r.tls.as_deref(),
        }
    }
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Relayed => "relayed",
            Action::Delivered => "delivered",
        }
    }
    fn subject(self) -> &'static str {
        match self {
            Action::Failed => "[ATHEN] MESSAGE DELIVERY ERROR",
            Action::Delayed => "[ATHEN] Mail in transit",
            Action::Relayed | Action::Delivered => "[ATHEN] Successful Mail Delivery",
        }
    }
}

/// The header section of `message` (up to the empty line), CRLF ended.
pub fn header_section(message: &[u8]) -> &[u8] {
    &message[..crate::header_end(message)]
}

/// The unfolded value of the first header field called `name`.
fn header_value(headers: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(headers);
    let mut value: Option<String> = None;
    for line in text.split("\r\n") {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_string());
        }
    }
    value
}

/// A value from the envelope, made safe to put on one header line: the
/// SMTP session refuses control characters already; this is the last guard.
fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(900).collect()
}

/// The RFC 3463 status code in a reply text ("550 5.1.1 …"), or a default.
fn status_of(reply: &str, action: Action) -> String {
    reply
        .split_whitespace()
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
        .unwrap_or_else(|| {
            match action {
                Action::Failed => "5.0.0",
                Action::Delayed => "4.0.0",
                Action::Relayed | Action::Delivered => "2.0.0",
            }
            .to_string()
        })
}

/// Who reports: the server's host name (Reporting-MTA, Message-ID) and its
/// mail domain (the From address, so the DKIM signature aligns for DMARC).
pub struct Reporter<'a> {
    pub hostname: &'a str,
    pub domain: &'a str,
}

/// One report about `recipients` of `on`; `message_id` is the report's
/// own Message-ID.
pub fn build(
    action: Action,
    by: &Reporter<'_>,
    on: &ReportOn<'_>,
    recipients: &[RecipientReport<'_>],
    now: UnixTime,
    retry_until: Option<UnixTime>,
    message_id: &str,
) -> Vec<u8> {
    let hostname = by.hostname;
    let headers = header_section(on.original);
    let subject = header_value(headers, "Subject").unwrap_or_default();
    // Quoted into our own header: no control characters (they could start
    // a new header field), and within the line length limit (RFC 5322 §2.1.1).
    let original_id = header_value(headers, "Message-ID")
        .map(|id| id.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|id| !id.is_empty() && id.len() <= 900);
    let boundary = format!("athen-report-{message_id}");
    let mut out = String::new();
    out.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{}>\r\n",
        by.domain
    ));
    out.push_str(&format!("To: <{}>\r\n", one_line(on.mail_from)));
    // Keep the subject to one line and printable.
    let subject: String = subject
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    out.push_str(&format!("Subject: {}: {}\r\n", action.subject(), subject));
    out.push_str(&format!("Date: {}\r\n", rfc5322(now)));
    out.push_str(&format!("Message-ID: <{message_id}@{hostname}>\r\n"));
    if let Some(id) = &original_id {
        out.push_str(&format!("In-Reply-To: {id}\r\nReferences: {id}\r\n"));
    }
    out.push_str("Auto-Submitted: auto-replied\r\n");
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n"
    ));
    out.push_str("This is a delivery status notification (RFC 3464).\r\n\r\n");

    // The part a person reads.
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    ));
    match action {
        Action::Failed => out.push_str(
            "Your message could not be delivered to the recipient(s) below. \
It will not be retried.\r\n\r\n",
        ),
        Action::Delayed => out.push_str(
            "Your message has not been delivered yet to the recipient(s) below. \
ATHEN keeps trying; you do not need to send it again.\r\n\r\n",
        ),
        Action::Relayed => out.push_str(
            "Your message was handed to the recipient's mail server, which does not \
send delivery reports itself.\r\n\r\n",
        ),
        Action::Delivered => out.push_str(
            "Your message was delivered to the recipient's mailbox on this server.\r\n\r\n",
        ),
    }
    for r in recipients {
        out.push_str(&format!(
            "  {}: {}\r\n",
            r.address,
            r.reply.unwrap_or("no answer yet")
        ));
        if let Some(tls) = r.tls {
            out.push_str(&format!("    connection: {tls}\r\n"));
        }
    }
    if let Some(until) = retry_until {
        out.push_str(&format!(
            "\r\nATHEN will keep trying until {}.\r\n",
            rfc5322(until)
        ));
    }
    out.push_str("\r\n");

    // RFC 3464 §2.2 and §2.3: per-message, then per-recipient fields.
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
    ));
    out.push_str(&format!("Reporting-MTA: dns; {hostname}\r\n"));
    if let Some(envid) = on.envid {
        out.push_str(&format!("Original-Envelope-Id: {}\r\n", one_line(envid)));
    }
    out.push_str(&format!("Arrival-Date: {}\r\n", rfc5322(on.arrived)));
    for r in recipients {
        out.push_str("\r\n");
        if let Some(orcpt) = r.orcpt {
            out.push_str(&format!("Original-Recipient: {}\r\n", one_line(orcpt)));
        }
        out.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\n",
            one_line(r.address)
        ));
        out.push_str(&format!("Action: {}\r\n", action.as_str()));
        let reply = r.reply.unwrap_or("");
        out.push_str(&format!("Status: {}\r\n", status_of(reply, action)));
        if let Some(host) = r.remote_host {
            out.push_str(&format!("Remote-MTA: dns; {host}\r\n"));
        }
        if !reply.is_empty() {
            let reply: String = reply
                .chars()
                .filter(|c| !c.is_control())
                .take(900)
                .collect();
            out.push_str(&format!("Diagnostic-Code: smtp; {reply}\r\n"));
        }
        out.push_str(&format!("Last-Attempt-Date: {}\r\n", rfc5322(now)));
        if let Some(until) = retry_until {
            out.push_str(&format!("Will-Retry-Until: {}\r\n", rfc5322(until)));
        }
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    // RFC 3461 §4.3: RET=FULL asks for the whole message in a failure
    // report, otherwise the header section (RFC 3462) is enough.
    if action == Action::Failed && on.return_full {
        bytes.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes(),
        );
        bytes.extend_from_slice(on.original);
        if !on.original.ends_with(b"\r\n") {
            bytes.extend_from_slice(b"\r\n");
        }
    } else if action == Action::Failed {
        bytes.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n").as_bytes(),
        );
        bytes.extend_from_slice(headers);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use athen_core::ids::{QueueId, QueueRecipientId};
    use athen_core::queue::{Notify, RecipientState};

    #[test]
    fn failure_report_has_the_rfc_3464_parts() {
        let msg = QueuedMessage {
            id: QueueId(1),
            sender_mailbox: None,
            mail_from: "jane@a.example".into(),
            envid: Some("ENV1".into()),
            ret: None,
            blob_key: String::new(),
            size: 10,
            created_at: 1_700_000_000,
            delay_reported: false,
            recipients: vec![],
        };
        let r = QueuedRecipient {
            id: QueueRecipientId(1),
            address: "bob@b.example".into(),
            domain: "b.example".into(),
            orcpt: Some("rfc822;bob@b.example".into()),
            notify: Notify::DEFAULT,
            state: RecipientState::Failed,
            attempts: 1,
            next_attempt_at: 0,
            last_reply: Some("RCPT TO at mx.b.example: 550 5.1.1 no such user".into()),
            remote_host: Some("mx.b.example".into()),
            tls: None,
            reported: false,
        };
        let original = b"From: jane@a.example\r\nSubject: Referral\r\n Smith\r\nMessage-ID: <x@a>\r\n\r\nsecret body\r\n";
        let out = build(
            Action::Failed,
            &Reporter {
                hostname: "mx.a.example",
                domain: "a.example",
            },
            &ReportOn::queued(&msg, original),
            &[RecipientReport::from(&r)],
            1_700_000_100,
            None,
            "r1",
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Subject: [ATHEN] MESSAGE DELIVERY ERROR: Referral Smith\r\n"));
        assert!(text.contains("From: Mail Delivery System <MAILER-DAEMON@a.example>\r\n"));
        assert!(text.contains("Reporting-MTA: dns; mx.a.example\r\n"));
        assert!(text.contains("report-type=delivery-status"));
        assert!(text.contains("Original-Envelope-Id: ENV1\r\n"));
        assert!(text.contains(
            "Final-Recipient: rfc822; bob@b.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        ));
        assert!(text.contains("Content-Type: text/rfc822-headers"));
        assert!(text.contains("In-Reply-To: <x@a>"));
        assert!(!text.contains("secret body"), "only the headers go back");

        let full = ReportOn {
            return_full: true,
            ..ReportOn::queued(&msg, original)
        };
        let by = Reporter {
            hostname: "mx.a.example",
            domain: "a.example",
        };
        let text = build(
            Action::Failed,
            &by,
            &full,
            &[RecipientReport::from(&r)],
            1_700_000_100,
            None,
            "r2",
        );
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("Content-Type: message/rfc822\r\n\r\nFrom: jane@a.example"));
        assert!(text.contains("secret body"), "RET=FULL returns the message");
    }
}
