//! Read receipts this mailbox sends (RFC 8098): when a letter that asked
//! for one (`Disposition-Notification-To`) is opened, a "displayed" MDN
//! goes back to its sender, once, if the mailbox's policy says so.
//!
//! RFC 8098 §2.1 and §3.1 decide when not to: never for automatic mail
//! (reports, auto-replies, lists, bounces), and never automatically when
//! the receipt would go somewhere other than the message's Return-Path
//! (someone could otherwise use receipts to confirm a third party's
//! reading habits).

use crate::MailError;
use crate::audit::{self, EventKind, TrailEvent};
use athen_core::MailboxId;
use athen_core::clock::{UnixTime, rfc5322};
use athen_core::mailbox::ReceiptPolicy;
use athen_core::queue::AutomaticMail;
use athen_core::store::{BlobStore, MetadataStore};
use athen_vault::MailboxSecret;
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

/// What a letter asked for, read from its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MdnRequest {
    /// Where the receipt goes (the Disposition-Notification-To address).
    pub to: String,
    pub original_message_id: Option<String>,
    pub original_recipient: Option<String>,
    pub subject: Option<String>,
}

/// Why no receipt is sent automatically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoReceipt {
    NotAsked,
    /// A report, an auto-reply, list mail or a bounce (RFC 8098 §2.1).
    AutomaticMail,
    /// The receipt would go to another address than the Return-Path.
    NotTheSender,
}

/// The request of a received message, or why it gets no automatic receipt.
pub fn request(raw: &[u8]) -> Result<MdnRequest, NoReceipt> {
    let msg = MessageParser::default()
        .parse_headers(raw)
        .ok_or(NoReceipt::NotAsked)?;
    let dnt = msg
        .header("Disposition-Notification-To")
        .and_then(first_address)
        .ok_or(NoReceipt::NotAsked)?;
    let return_path = return_path(&msg);
    if is_automatic(&msg) || return_path.as_deref() == Some("") {
        return Err(NoReceipt::AutomaticMail);
    }
    if return_path.as_deref() != Some(dnt.as_str()) {
        return Err(NoReceipt::NotTheSender);
    }
    Ok(MdnRequest {
        to: dnt,
        original_message_id: msg.message_id().map(str::to_string),
        original_recipient: msg
            .header("Original-Recipient")
            .and_then(|h| h.as_text())
            .map(|s| s.trim().to_string()),
        subject: msg.subject().map(str::to_string),
    })
}

/// Whether a message is automatic mail: a report, an auto-reply, list or
/// bulk mail (RFC 3834 §2, RFC 8098 §2.1), never to be answered.
pub(crate) fn is_automatic(msg: &mail_parser::Message<'_>) -> bool {
    let text = |name: &str| {
        msg.header(name)
            .and_then(|h| h.as_text())
            .map(|s| s.trim().to_ascii_lowercase())
    };
    text("Auto-Submitted").is_some_and(|v| v != "no")
        || msg.content_type().is_some_and(|c| {
            c.ctype().eq_ignore_ascii_case("multipart")
                && c.subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        || text("Precedence").is_some_and(|p| ["bulk", "list", "junk"].contains(&p.as_str()))
        || msg.header("List-Id").is_some()
}

/// The envelope sender the receiving server wrote as Return-Path (RFC
/// 5321 §4.4), lower case; `Some("")` for a bounce's null path. The
/// first field of that name: the one our server put at the top (the MX
/// removes any the sender wrote), never one further down.
pub(crate) fn return_path(msg: &mail_parser::Message<'_>) -> Option<String> {
    msg.headers()
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case("Return-Path"))
        .and_then(|h| first_address(&h.value))
}

fn first_address(h: &HeaderValue<'_>) -> Option<String> {
    match h {
        HeaderValue::Address(a) => a
            .iter()
            .next()
            .and_then(|a| a.address.as_deref())
            .map(|s| s.trim().to_ascii_lowercase()),
        HeaderValue::Text(t) => Some(
            t.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_ascii_lowercase(),
        ),
        _ => None,
    }
}

/// Header text made safe for one line.
fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// The "displayed" MDN for `request`, sent by `reader` (RFC 8098 §3:
/// multipart/report with a human part and message/disposition-notification).
pub fn build(
    request: &MdnRequest,
    reader: &str,
    hostname: &str,
    date: &str,
    message_id: &str,
) -> Vec<u8> {
    let boundary = format!("athen-mdn-{message_id}");
    let subject = request.subject.as_deref().map(one_line).unwrap_or_default();
    let mut out = String::new();
    out.push_str(&format!("From: <{}>\r\n", one_line(reader)));
    out.push_str(&format!("To: <{}>\r\n", one_line(&request.to)));
    out.push_str(&format!("Subject: Read: {subject}\r\n"));
    out.push_str(&format!("Date: {date}\r\n"));
    out.push_str(&format!("Message-ID: <{message_id}@{hostname}>\r\n"));
    if let Some(id) = &request.original_message_id {
        out.push_str(&format!(
            "In-Reply-To: <{}>\r\nReferences: <{}>\r\n",
            one_line(id),
            one_line(id)
        ));
    }
    // RFC 3834 §5: a receipt is an automatic response, never to be answered.
    out.push_str("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
    out.push_str(&format!(
        "Content-Type: multipart/report; report-type=disposition-notification; boundary=\"{boundary}\"\r\n\r\n"
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
The letter \"{subject}\" was opened by {}.\r\nThis is a read receipt (RFC 8098); it says nothing about whether the letter was understood or agreed with.\r\n\r\n",
        one_line(reader)
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: message/disposition-notification\r\n\r\nReporting-UA: {hostname}; ATHEN\r\n"
    ));
    if let Some(r) = &request.original_recipient {
        out.push_str(&format!("Original-Recipient: {}\r\n", one_line(r)));
    }
    out.push_str(&format!("Final-Recipient: rfc822;{}\r\n", one_line(reader)));
    if let Some(id) = &request.original_message_id {
        out.push_str(&format!("Original-Message-ID: <{}>\r\n", one_line(id)));
    }
    out.push_str("Disposition: automatic-action/MDN-sent-automatically; displayed\r\n\r\n");
    out.push_str(&format!("--{boundary}--\r\n"));
    out.into_bytes()
}

/// What opening a letter did about its read receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// Sent to this address.
    Sent(String),
    AlreadySent,
    /// The mailbox's policy is "ask" or "never".
    Policy(ReceiptPolicy),
    NotSent(NoReceipt),
    /// Queued for the sender on another server.
    Queued(String),
    /// The sender is on another server and this front door has no queue
    /// (the `athen mailbox` command; the server's own front doors do).
    OtherServer(String),
    /// This mailbox's own letter (its copy in Sent): reading it again is
    /// not the recipient reading it, so nothing is recorded or sent.
    OwnLetter,
}

/// Who opened a letter, and where.
pub struct Reader<'a> {
    pub mailbox: MailboxId,
    pub secret: &'a MailboxSecret,
    /// The mailbox's address (the receipt's From and Final-Recipient).
    pub address: &'a str,
    /// The login that opened it (a staff member's, for an organisation).
    pub login: &'a str,
    pub policy: ReceiptPolicy,
    pub hostname: &'a str,
}

/// Records that `reader` opened a letter (once per login) and sends its
/// read receipt if it asked for one and the policy allows, once per
/// letter. A receipt to a mailbox on this server goes into its spool, one
/// to another server into `queue`.
pub async fn letter_opened(
    store: &dyn MetadataStore,
    blobs: &dyn BlobStore,
    queue: Option<&dyn AutomaticMail>,
    reader: &Reader<'_>,
    raw: &[u8],
    now: UnixTime,
) -> Result<ReceiptOutcome, MailError> {
    let meta = crate::meta::extract(raw);
    // `from` holds "Name <address>" or the bare address.
    let own = |f: &String| {
        let bare = f
            .rsplit_once('<')
            .map_or(f.as_str(), |(_, a)| a.trim_end_matches('>'));
        bare.eq_ignore_ascii_case(reader.address)
    };
    if meta.from.iter().any(own) {
        return Ok(ReceiptOutcome::OwnLetter);
    }
    let id = meta.message_id.clone().unwrap_or_default();
    let trail = audit::trail(store, reader.mailbox, reader.secret).await?;
    let seen = |kind: EventKind, by: Option<&str>| {
        trail.iter().any(|i| {
            i.event.kind == Some(kind)
                && !id.is_empty()
                && i.event.is_about(&id)
                && by.is_none_or(|b| i.event.actor.as_deref() == Some(b))
        })
    };
    if !seen(EventKind::Read, Some(reader.login)) {
        let read = TrailEvent {
            message_id: meta.message_id.clone(),
            correspondent: meta.from.first().cloned(),
            actor: Some(reader.login.to_string()),
            ..TrailEvent::new(EventKind::Read)
        };
        audit::record(store, reader.mailbox, reader.secret, now, &[read]).await?;
    }
    if reader.policy != ReceiptPolicy::Always {
        return Ok(ReceiptOutcome::Policy(reader.policy));
    }
    let request = match request(raw) {
        Ok(r) => r,
        Err(why) => return Ok(ReceiptOutcome::NotSent(why)),
    };
    if id.is_empty() || seen(EventKind::ReceiptSent, None) {
        return Ok(ReceiptOutcome::AlreadySent);
    }
    let local = match store.account_by_address(&request.to).await? {
        Some(account) => store.mailbox(account.mailbox_id).await?,
        None => None,
    };
    let mdn = || {
        Ok::<_, MailError>(build(
            &request,
            reader.address,
            reader.hostname,
            &rfc5322(now),
            &crate::random_id()?,
        ))
    };
    let outcome = if let Some(target) = local {
        crate::spool::deliver(blobs, store, &target, &mdn()?, 1 << 20, now).await?;
        ReceiptOutcome::Sent(request.to.clone())
    } else if let Some(queue) = queue {
        queue
            .queue_automatic(reader.mailbox, &request.to, &mdn()?)
            .await
            .map_err(|e| MailError::Store(athen_core::StoreError::Io(e)))?;
        ReceiptOutcome::Queued(request.to.clone())
    } else {
        return Ok(ReceiptOutcome::OtherServer(request.to));
    };
    let sent = TrailEvent {
        message_id: meta.message_id.clone(),
        correspondent: Some(request.to.clone()),
        actor: Some(reader.login.to_string()),
        detail: Some("read receipt sent (RFC 8098)".into()),
        ..TrailEvent::new(EventKind::ReceiptSent)
    };
    audit::record(store, reader.mailbox, reader.secret, now, &[sent]).await?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipts::{self, Disposition, Receipt};

    const ASKED: &str = "Return-Path: <peter@northside.example>\r\nFrom: Dr Peter Smith <peter@northside.example>\r\n\
To: reception@southside.example\r\nSubject: Referral\r\nMessage-ID: <ref-1@northside.example>\r\n\
Disposition-Notification-To: <Peter@northside.example>\r\n\r\nDear colleague\r\n";

    #[test]
    fn a_receipt_that_athen_itself_reads_back() {
        let req = request(ASKED.as_bytes()).unwrap();
        assert_eq!(req.to, "peter@northside.example");
        let mdn = build(
            &req,
            "reception@southside.example",
            "mail.southside.example",
            "Tue, 24 Nov 2026 10:00:00 +1100",
            "m1",
        );
        assert_eq!(
            receipts::parse(&mdn),
            Some(Receipt::Disposition {
                original_message_id: Some("ref-1@northside.example".into()),
                recipient: Some("reception@southside.example".into()),
                disposition: Disposition::Displayed,
            })
        );
        let text = String::from_utf8(mdn).unwrap();
        assert!(text.contains("Auto-Submitted: auto-replied\r\n"));
        assert!(text.contains("To: <peter@northside.example>\r\n"));
        // A receipt asks for none, and is automatic mail besides: it is
        // never answered in turn, even if it asked.
        assert_eq!(request(text.as_bytes()), Err(NoReceipt::NotAsked));
        let asking = text.replace(
            "Auto-Submitted:",
            "Return-Path: <reception@southside.example>\r\nDisposition-Notification-To: <reception@southside.example>\r\nAuto-Submitted:",
        );
        assert_eq!(request(asking.as_bytes()), Err(NoReceipt::AutomaticMail));
    }

    #[test]
    fn when_no_receipt_goes() {
        let plain = ASKED.replace(
            "Disposition-Notification-To: <Peter@northside.example>\r\n",
            "",
        );
        assert_eq!(request(plain.as_bytes()), Err(NoReceipt::NotAsked));
        let elsewhere = ASKED.replace("<Peter@northside.example>", "<watcher@elsewhere.example>");
        assert_eq!(request(elsewhere.as_bytes()), Err(NoReceipt::NotTheSender));
        for extra in [
            "Auto-Submitted: auto-generated\r\n",
            "Precedence: bulk\r\n",
            "List-Id: <news.northside.example>\r\n",
        ] {
            let auto = format!("{extra}{ASKED}");
            assert_eq!(
                request(auto.as_bytes()),
                Err(NoReceipt::AutomaticMail),
                "{extra}"
            );
        }
        let bounce = ASKED.replace("Return-Path: <peter@northside.example>", "Return-Path: <>");
        assert!(request(bounce.as_bytes()).is_err());
        assert_eq!(request(b""), Err(NoReceipt::NotAsked));
    }
}
