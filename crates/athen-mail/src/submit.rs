//! Mail from our own users (the submission ports, later the web app):
//! checking it is theirs, completing the header, and filing the Sent copy.

use crate::{MailError, mail_key, meta};
use athen_core::clock::{UnixTime, rfc5322};
use athen_core::mailbox::{NewStoredMessage, SpecialFolder, StoredMessage, flags};
use athen_core::store::{BlobStore, MailboxStore};
use athen_core::{MailboxId, StoreError};
use athen_vault::MailboxSecret;
use athen_vault::seal::encrypt_stored;
use mail_parser::{HeaderName, MessageParser};
use zeroize::Zeroizing;

/// Who sends: the signed-in user of a front door other than SMTP.
pub struct SendAs<'a> {
    pub address: &'a str,
    pub mailbox: MailboxId,
    /// The login that sends (a staff member's), for the trail.
    pub login: &'a str,
    pub secret: &'a MailboxSecret,
    /// Ask the recipient for a read receipt (see [`prepare`]).
    pub ask_receipt: bool,
}

/// What was done with a message sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Mailboxes on this server it was delivered to.
    pub local: usize,
    /// Recipients on other servers it was queued for.
    pub remote: usize,
}

/// Why a message was not sent; nothing was sent in any of these cases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// One recipient cannot be reached (no such user, relaying refused…).
    #[error("{address}: {reason}")]
    Recipient { address: String, reason: String },
    /// The message itself was refused (too large, not the sender's From:).
    #[error("{0}")]
    Refused(String),
    /// Try again later.
    #[error("{0}")]
    Temporary(String),
}

/// Sends mail for a signed-in user the way the submission port does (the
/// web app's compose page), implemented by the SMTP crate, which owns
/// recipient lookup, the outbound queue and delivery reports.
#[async_trait::async_trait]
pub trait Submitter: Send + Sync {
    async fn send(
        &self,
        from: SendAs<'_>,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Sent, SendError>;
}

/// Checks a submitted message and adds what it lacks:
///
/// - `From:` must be the sender's own address (added if missing);
/// - `Message-ID:` and `Date:` are added if missing (RFC 6409 §8.3, §8.2);
/// - `Disposition-Notification-To:` asks for a read receipt, unless the
///   message is automatic (`Auto-Submitted` other than `no`, RFC 3834, or a
///   `multipart/report`), so that every letter is followed until it is read;
///   `ask_receipt` false (the web app's "ask for a read receipt" left
///   unticked) adds none either;
/// - a `Received:` line records the submission (RFC 6409 §8).
///
/// Returns the message to deliver, or why it is refused.
pub fn prepare(
    raw: &[u8],
    sender: &str,
    hostname: &str,
    now: UnixTime,
    ask_receipt: bool,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let m = MessageParser::default()
        .parse_headers(raw)
        .ok_or_else(|| "The message could not be read as an e-mail message".to_string())?;
    let mut add = String::new();
    let date = rfc5322(now);
    add.push_str(&format!(
        "Received: by {hostname} (ATHEN submission) with ESMTPSA; {date}\r\n"
    ));
    match m.from() {
        None => add.push_str(&format!("From: <{sender}>\r\n")),
        Some(from) => {
            for a in from.iter() {
                let addr = a.address.as_deref().unwrap_or("");
                if !addr.eq_ignore_ascii_case(sender) {
                    return Err(format!(
                        "The From: address must be your own ({sender}), not {addr}"
                    ));
                }
            }
        }
    }
    if m.message_id().is_none() {
        let id = athen_store::random_hex(16).map_err(|e| e.to_string())?;
        add.push_str(&format!("Message-ID: <{id}@{hostname}>\r\n"));
    }
    if m.date().is_none() {
        add.push_str(&format!("Date: {date}\r\n"));
    }
    // Field names are case-insensitive (RFC 5322 §1.2.2).
    let field = |name: &str| {
        m.headers()
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| {
                let (a, b) = (h.offset_start as usize, h.offset_end as usize);
                String::from_utf8_lossy(raw.get(a..b).unwrap_or_default())
                    .trim()
                    .to_string()
            })
    };
    let auto_submitted = field("Auto-Submitted").is_some_and(|v| !v.eq_ignore_ascii_case("no"));
    let report = m
        .header(HeaderName::ContentType)
        .and_then(|h| h.as_content_type())
        .is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        });
    let has_dnt = field("Disposition-Notification-To").is_some();
    if ask_receipt && !auto_submitted && !report && !has_dnt {
        add.push_str(&format!("Disposition-Notification-To: <{sender}>\r\n"));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(add.len() + raw.len()));
    out.extend_from_slice(add.as_bytes());
    out.extend_from_slice(raw);
    Ok(out)
}

/// Files the sender's copy in their Sent folder, encrypted with their data
/// key (the sender is logged in, so the key is at hand), marked as read.
pub async fn store_sent_copy(
    blobs: &dyn BlobStore,
    store: &dyn MailboxStore,
    mailbox: MailboxId,
    secret: &MailboxSecret,
    raw: &[u8],
    now: UnixTime,
) -> Result<StoredMessage, MailError> {
    store_in_folder(
        blobs,
        store,
        mailbox,
        secret,
        (SpecialFolder::Sent, flags::SEEN),
        raw,
        now,
    )
    .await
}

/// Files a message in one of the mailbox's folders with `flags`,
/// encrypted with the mailbox data key (the mailbox is unlocked): a Sent
/// copy, a draft.
pub async fn store_in_folder(
    blobs: &dyn BlobStore,
    store: &dyn MailboxStore,
    mailbox: MailboxId,
    secret: &MailboxSecret,
    (folder, message_flags): (SpecialFolder, u32),
    raw: &[u8],
    now: UnixTime,
) -> Result<StoredMessage, MailError> {
    let target = store
        .folders(mailbox)
        .await?
        .into_iter()
        .find(|f| f.name == folder.name())
        .ok_or_else(|| {
            StoreError::Corrupt(format!("mailbox {mailbox} has no {} folder", folder.name()))
        })?;
    store_in(blobs, store, secret, (&target, message_flags), raw, now).await
}

/// Files a message in `folder` with `flags`, received at `at`, encrypted
/// with the mailbox data key: what the others come to, and what IMAP
/// APPEND and COPY do.
pub async fn store_in(
    blobs: &dyn BlobStore,
    store: &dyn MailboxStore,
    secret: &MailboxSecret,
    (folder, message_flags): (&athen_core::mailbox::Folder, u32),
    raw: &[u8],
    at: UnixTime,
) -> Result<StoredMessage, MailError> {
    let mailbox = folder.mailbox_id;
    let key = mail_key(mailbox)?;
    let meta_json = Zeroizing::new(
        serde_json::to_vec(&meta::extract(raw))
            .map_err(|e| StoreError::Io(format!("encode metadata: {e}")))?,
    );
    blobs
        .put(&key, &encrypt_stored(secret, "body", &key, raw)?)
        .await?;
    Ok(store
        .add_message(NewStoredMessage {
            mailbox_id: mailbox,
            folder_id: folder.id,
            size: raw.len() as u64,
            received_at: at,
            flags: message_flags,
            sealed_meta: encrypt_stored(secret, "meta", &key, &meta_json)?,
            blob_key: key,
            import_file: false,
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(raw: &str) -> Result<String, String> {
        prepare(
            raw.as_bytes(),
            "jane@athen.localhost",
            "mail.example",
            1_795_515_000,
            true,
        )
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
    }

    #[test]
    fn completes_a_bare_message() {
        let out = prep("Subject: hi\r\n\r\nbody\r\n").unwrap();
        assert!(out.contains("From: <jane@athen.localhost>\r\n"));
        assert!(out.contains("Message-ID: <"));
        assert!(out.contains("Date: Tue, 24 Nov 2026 10:10:00 +0000\r\n"));
        assert!(out.contains("Disposition-Notification-To: <jane@athen.localhost>\r\n"));
        assert!(out.ends_with("Subject: hi\r\n\r\nbody\r\n"));
    }

    #[test]
    fn keeps_what_is_there() {
        let out = prep("From: Jane <JANE@athen.localhost>\r\nMessage-ID: <x@y>\r\nDate: Mon, 1 Jan 2024 00:00:00 +1100\r\nDisposition-Notification-To: other@x.test\r\n\r\nb\r\n").unwrap();
        assert_eq!(out.matches("Message-ID").count(), 1);
        assert_eq!(out.matches("Date:").count(), 1);
        assert_eq!(out.matches("Disposition-Notification-To").count(), 1);
        assert!(!out.contains("From: <jane"));
    }

    #[test]
    fn automatic_mail_gets_no_receipt_request() {
        for raw in [
            "From: jane@athen.localhost\r\nAuto-Submitted: auto-replied\r\n\r\nb\r\n",
            "From: jane@athen.localhost\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x--\r\n",
        ] {
            assert!(
                !prep(raw).unwrap().contains("Disposition-Notification-To"),
                "{raw}"
            );
        }
        assert!(
            prep("From: jane@athen.localhost\r\nAuto-Submitted: no\r\n\r\nb\r\n")
                .unwrap()
                .contains("Disposition-Notification-To")
        );
    }

    #[test]
    fn someone_elses_from_is_refused() {
        let e = prep("From: boss@athen.localhost\r\n\r\nb\r\n").unwrap_err();
        assert!(e.contains("must be your own"), "{e}");
        assert!(prep("From: jane@athen.localhost, boss@athen.localhost\r\n\r\nb\r\n").is_err());
    }
}
