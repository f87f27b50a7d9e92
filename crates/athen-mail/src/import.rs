//! The practice's downloader, on the server's side (issue 7;
//! ../shared/reference/athen-original.md "Downloader state machine"): the
//! files made for the clinical system, each file's bytes, and what the
//! downloader's reports do.
//!
//! A file is `waiting` from unspool until the downloader has written it
//! into the clinical system's import folder and says `downloaded`: the
//! letter then moves from the Inbox to Downloaded, the trail records it,
//! and the sender is told with a delivery status notification (RFC 3464
//! action `relayed`, "awaiting import"). When the clinical system has taken
//! the file out of the folder the downloader says `imported`: recorded,
//! and the sender told again (action `delivered`, "processed by the
//! clinical system"). Both notices carry an `X-Athen-Import` field (an
//! RFC 3464 §2.4 extension field) that the sender's server reads
//! ([`crate::receipts`]) into its own trail. A `failed` report (the
//! folder's disk full, say) is recorded with its reason and the file is
//! offered again; the sender is not told, because the letter did arrive
//! and can be read, and the fault is the receiving practice's to mend.
//!
//! Every report is idempotent: saying again what is already so changes
//! nothing and sends nothing.

use crate::MailError;
use crate::audit::{self, EventKind, TrailEvent};
use crate::meta::{ImportFile, MessageMeta};
use athen_core::clock::{UnixTime, rfc5322};
use athen_core::mailbox::{ImportFileRow, ImportState, ReceiptPolicy, SpecialFolder};
use athen_core::queue::AutomaticMail;
use athen_core::store::{BlobStore, MetadataStore};
use athen_core::{FolderId, MailboxId, MessageId, StoreError};
use athen_vault::MailboxSecret;
use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 of `bytes`, lower-case hex (as the API gives it).
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha256(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The import file's bytes, taken from the stored message it is attached
/// to, and checked against the checksum made with it: a stored message
/// that no longer gives the same bytes is an error, never served.
pub fn file_bytes(raw: &[u8], file: &ImportFile) -> Result<Vec<u8>, MailError> {
    let damaged = |why: &str| {
        MailError::Store(StoreError::State(format!(
            "import file {}: {why}",
            file.name
        )))
    };
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| damaged("the message cannot be parsed"))?;
    // The sender may have attached files of the same name before ours
    // (to make the real one fail its checksum for ever): the file is the
    // part with that name whose bytes are the ones recorded when it was
    // made, wherever it is.
    let mut named = msg
        .attachments()
        .filter(|p| p.attachment_name() == Some(file.name.as_str()))
        .peekable();
    if named.peek().is_none() {
        return Err(damaged("no attachment of that name"));
    }
    named
        .find(|p| sha256_hex(p.contents()) == file.sha256)
        .map(|p| p.contents().to_vec())
        .ok_or_else(|| damaged("its bytes do not match its checksum"))
}

/// What the downloader says of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// Written into the import folder; `sha256` is what it checked.
    Downloaded { sha256: String },
    /// Gone from the import folder: the clinical system took it.
    Imported,
    /// Could not be delivered; offered again.
    Failed { reason: String },
}

impl Report {
    fn target(&self) -> ImportState {
        match self {
            Report::Downloaded { .. } => ImportState::Downloaded,
            Report::Imported => ImportState::Imported,
            Report::Failed { .. } => ImportState::Failed,
        }
    }
}

/// Why a report was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no such import file")]
    NotFound,
    /// The report does not follow from the file's state.
    #[error("{0}")]
    Conflict(String),
    #[error(
        "the checksum reported is not the file's: download it again and check it before reporting"
    )]
    ChecksumMismatch,
    #[error(transparent)]
    Mail(#[from] MailError),
}

impl From<StoreError> for ReportError {
    fn from(e: StoreError) -> ReportError {
        ReportError::Mail(e.into())
    }
}

/// What a report did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reported {
    pub file: ImportFileRow,
    /// False when the file was in that state already (nothing was done).
    pub changed: bool,
    /// Whom the sender's notice went to, if one went.
    pub sender_told: Option<String>,
}

/// The mailbox the report is about, and who made it.
pub struct Reporter<'a> {
    pub mailbox: MailboxId,
    pub secret: &'a MailboxSecret,
    /// The mailbox's address and name (the notice's From).
    pub address: &'a str,
    pub name: &'a str,
    /// The login that reported (the downloader's app token's).
    pub login: &'a str,
    pub policy: ReceiptPolicy,
    pub hostname: &'a str,
}

/// A reason from the downloader, made fit for the trail: one line, at
/// most 300 characters.
fn reason_line(reason: &str) -> String {
    let line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    let line = line.trim();
    if line.is_empty() {
        "no reason given".into()
    } else {
        line.to_string()
    }
}

/// Carries out one report of the downloader about the import file of
/// message `id`. The caller holds the mailbox's one-at-a-time lock, so
/// two reports about a file are never carried out together.
pub async fn report(
    store: &dyn MetadataStore,
    blobs: &dyn BlobStore,
    queue: Option<&dyn AutomaticMail>,
    reporter: &Reporter<'_>,
    id: MessageId,
    report: Report,
    now: UnixTime,
) -> Result<Reported, ReportError> {
    let row = store
        .import_file(reporter.mailbox, id)
        .await?
        .ok_or(ReportError::NotFound)?;
    let to = report.target();
    let unchanged = |row: ImportFileRow| Reported {
        file: row,
        changed: false,
        sender_told: None,
    };
    use ImportState::*;
    match (row.state, to) {
        // Said again, or said of a file that went further already.
        (Downloaded | Imported, Downloaded) | (Imported, Imported) => return Ok(unchanged(row)),
        (Waiting | Failed, Downloaded) | (Downloaded, Imported) | (Waiting | Failed, Failed) => {}
        (Waiting | Failed, Imported) => {
            return Err(ReportError::Conflict(
                "the file was not reported downloaded: report \"downloaded\" first".into(),
            ));
        }
        (Downloaded | Imported, Failed) => {
            return Err(ReportError::Conflict(format!(
                "the file was reported {} already; a failure is reported before that",
                row.state.as_str()
            )));
        }
        (_, Waiting) => {
            return Err(ReportError::Conflict(
                "no report leads back to waiting".into(),
            ));
        }
    }
    let meta = crate::read::with_meta(row.message.clone(), reporter.secret)?.meta;
    let file = meta.import_file.clone().ok_or_else(|| {
        MailError::Store(StoreError::State(format!(
            "message {id} has an import file but its metadata names none"
        )))
    })?;
    if let Report::Downloaded { sha256 } = &report
        && !sha256.trim().eq_ignore_ascii_case(&file.sha256)
    {
        return Err(ReportError::ChecksumMismatch);
    }
    // A failure said again only counts; the trail has it already.
    let first_failure = !(row.state == Failed && to == Failed);
    let mut sender_told = None;
    if to != Failed {
        let raw = crate::read::raw_message(blobs, reporter.secret, &row.message).await?;
        sender_told =
            tell_sender(store, blobs, queue, reporter, &raw, &meta, &file, to, now).await?;
    }
    if first_failure {
        let (kind, detail) = match &report {
            Report::Downloaded { .. } => (
                EventKind::Downloaded,
                "written into the clinical system's import folder, awaiting import".to_string(),
            ),
            Report::Imported => (
                EventKind::Imported,
                "processed by the clinical system (taken from its import folder)".to_string(),
            ),
            Report::Failed { reason } => (
                EventKind::ImportFailed,
                format!(
                    "the downloader could not deliver it: {}",
                    reason_line(reason)
                ),
            ),
        };
        let detail = match &sender_told {
            Some(to) => format!("{detail}; {to} was told"),
            None => detail,
        };
        let event = TrailEvent {
            message_id: meta.message_id.clone(),
            correspondent: meta.from.first().cloned(),
            actor: Some(reporter.login.to_string()),
            file: Some(file.name.clone()),
            detail: Some(detail),
            ..TrailEvent::new(kind)
        };
        audit::record(store, reporter.mailbox, reporter.secret, now, &[event]).await?;
    }
    let refile = if to == Downloaded {
        refile_to_downloaded(store, reporter.mailbox).await?
    } else {
        None
    };
    match store
        .set_import_state(reporter.mailbox, id, row.state, to, refile, now)
        .await?
    {
        Some(file) => Ok(Reported {
            file,
            changed: true,
            sender_told,
        }),
        // Another front door's report came between (the lock is per
        // server process); it did the work.
        None => Ok(unchanged(
            store
                .import_file(reporter.mailbox, id)
                .await?
                .ok_or(ReportError::NotFound)?,
        )),
    }
}

/// The Inbox and Downloaded folders: a downloaded letter moves from the
/// one to the other (a letter the practice filed elsewhere stays there).
async fn refile_to_downloaded(
    store: &dyn MetadataStore,
    mailbox: MailboxId,
) -> Result<Option<(FolderId, FolderId)>, MailError> {
    let folders = store.folders(mailbox).await?;
    let find = |f: SpecialFolder| folders.iter().find(|x| x.name == f.name()).map(|x| x.id);
    Ok(find(SpecialFolder::Inbox).zip(find(SpecialFolder::Downloaded)))
}

/// Sends the sender its notice: to a mailbox on this server always (it
/// goes into its trail only), to another server only when the letter
/// asked for a receipt (its sender evidently wants to be told). Never when
/// the mailbox's receipt policy is "never", for automatic mail, or for a
/// letter without a return path. Returns whom it went to.
#[allow(clippy::too_many_arguments)]
async fn tell_sender(
    store: &dyn MetadataStore,
    blobs: &dyn BlobStore,
    queue: Option<&dyn AutomaticMail>,
    reporter: &Reporter<'_>,
    raw: &[u8],
    meta: &MessageMeta,
    file: &ImportFile,
    stage: ImportState,
    now: UnixTime,
) -> Result<Option<String>, MailError> {
    if reporter.policy == ReceiptPolicy::Never {
        return Ok(None);
    }
    let Some(msg) = MessageParser::default().parse_headers(raw) else {
        return Ok(None);
    };
    let Some(sender) = crate::mdn::return_path(&msg).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    // Automatic mail (reports, auto-replies, lists) is never answered
    // (RFC 3834 §2).
    if crate::mdn::is_automatic(&msg) {
        return Ok(None);
    }
    let notice = || {
        Ok::<_, MailError>(build_notice(
            &NoticeOn {
                sender: &sender,
                recipient: reporter.address,
                recipient_name: reporter.name,
                message_id: meta.message_id.as_deref(),
                file: &file.name,
            },
            stage,
            reporter.hostname,
            now,
            &crate::random_id()?,
        ))
    };
    let local = match store.account_by_address(&sender).await? {
        Some(account) => store.mailbox(account.mailbox_id).await?,
        None => None,
    };
    if let Some(target) = local {
        crate::spool::deliver(blobs, store, &target, &notice()?, 1 << 20, now).await?;
        return Ok(Some(sender));
    }
    let asked = crate::mdn::request(raw).is_ok_and(|r| r.to == sender);
    match queue {
        Some(queue) if asked => {
            queue
                .queue_automatic(reporter.mailbox, &sender, &notice()?)
                .await
                .map_err(|e| MailError::Store(StoreError::Io(e)))?;
            Ok(Some(sender))
        }
        _ => Ok(None),
    }
}

/// The letter a notice is about.
pub struct NoticeOn<'a> {
    /// The letter's envelope sender, to whom the notice goes.
    pub sender: &'a str,
    /// This mailbox: the letter's recipient.
    pub recipient: &'a str,
    pub recipient_name: &'a str,
    pub message_id: Option<&'a str>,
    /// The import file's name.
    pub file: &'a str,
}

/// The stage's word in the `X-Athen-Import` field the sender's server
/// reads (see [`crate::receipts`]).
pub const IMPORT_FIELD: &str = "X-Athen-Import";

/// Text made safe for one header line.
fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(900).collect()
}

/// A delivery status notification (RFC 3464, inside RFC 6522
/// multipart/report) saying the letter was downloaded (action `relayed`:
/// handed on to the clinical system, which sends no reports of its own)
/// or imported (action `delivered`). It names the letter only by its
/// Message-ID and the file's name: no subject, no patient.
pub fn build_notice(
    on: &NoticeOn<'_>,
    stage: ImportState,
    hostname: &str,
    now: UnixTime,
    notice_id: &str,
) -> Vec<u8> {
    let (action, word, subject, human) = match stage {
        ImportState::Imported => (
            "delivered",
            "imported",
            "Letter processed by the clinical system",
            "was processed by the recipient's clinical system: it took the file",
        ),
        _ => (
            "relayed",
            "downloaded",
            "Letter downloaded, awaiting import",
            "was downloaded into the import folder of the recipient's clinical system, and awaits import into it",
        ),
    };
    let boundary = format!("athen-import-{notice_id}");
    let recipient = one_line(on.recipient);
    let name = one_line(on.recipient_name).replace(['"', '\\'], "");
    let file = one_line(on.file).replace([';', '"', ' '], "");
    let date = rfc5322(now);
    let letter = on
        .message_id
        .map(|id| format!("<{}>", one_line(id)))
        .unwrap_or_else(|| "(without a Message-ID)".into());
    let mut out = String::new();
    out.push_str(&format!("From: \"{name}\" <{recipient}>\r\n"));
    out.push_str(&format!("To: <{}>\r\n", one_line(on.sender)));
    out.push_str(&format!("Subject: {subject}\r\n"));
    out.push_str(&format!("Date: {date}\r\n"));
    out.push_str(&format!("Message-ID: <{notice_id}@{hostname}>\r\n"));
    if let Some(id) = on.message_id {
        let id = one_line(id);
        out.push_str(&format!("In-Reply-To: <{id}>\r\nReferences: <{id}>\r\n"));
    }
    // RFC 3834 §5: an automatic response, never to be answered.
    out.push_str("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
    out.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n"
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Your letter {letter} to {recipient} {human} ({file}, {date}).\r\n\r\n"
    ));
    // RFC 3464 §2.2 (per message) and §2.3 (per recipient).
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; {hostname}\r\n\r\n\
Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: 2.0.0\r\n\
{IMPORT_FIELD}: {word}; file={file}\r\nLast-Attempt-Date: {date}\r\n\r\n"
    ));
    // The original's header section (RFC 6522 §3), cut to the one field
    // the sender needs to match the notice: its Message-ID.
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    ));
    if let Some(id) = on.message_id {
        out.push_str(&format!("Message-ID: <{}>\r\n", one_line(id)));
    }
    out.push_str(&format!("\r\n--{boundary}--\r\n"));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipts::{self, Receipt};

    fn notice(stage: ImportState) -> Vec<u8> {
        build_notice(
            &NoticeOn {
                sender: "jane@athen.localhost",
                recipient: "reception@northside.example",
                recipient_name: "Northside \"Medical\"",
                message_id: Some("ref-1@athen.localhost"),
                file: "DPS00001.HL7",
            },
            stage,
            "mail.northside.example",
            1_796_000_000,
            "n1",
        )
    }

    #[test]
    fn the_sender_reads_its_notices_as_downloaded_and_imported() {
        for (stage, kind, file) in [
            (
                ImportState::Downloaded,
                EventKind::Downloaded,
                "DPS00001.HL7",
            ),
            (ImportState::Imported, EventKind::Imported, "DPS00001.HL7"),
        ] {
            let raw = notice(stage);
            let receipt = receipts::parse(&raw).expect("a delivery report");
            assert!(matches!(&receipt, Receipt::Delivery { .. }));
            assert_eq!(receipt.keys(), (None, Some("ref-1@athen.localhost")));
            assert!(!receipt.reports_failure());
            let events = receipt.events(Some("E1"), Some("ref-1@athen.localhost"));
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].kind, Some(kind));
            assert_eq!(events[0].file.as_deref(), Some(file));
            assert_eq!(
                events[0].correspondent.as_deref(),
                Some("reception@northside.example")
            );
            let text = String::from_utf8(raw).unwrap();
            // Automatic mail, never answered; no quotes broken by the name.
            assert!(text.contains("Auto-Submitted: auto-replied\r\n"));
            assert!(text.contains("From: \"Northside Medical\" <reception@northside.example>\r\n"));
        }
    }

    #[test]
    fn a_notice_whose_action_disagrees_is_an_ordinary_report() {
        let raw = String::from_utf8(notice(ImportState::Imported))
            .unwrap()
            .replace("Action: delivered", "Action: relayed");
        let receipt = receipts::parse(raw.as_bytes()).unwrap();
        let events = receipt.events(None, Some("ref-1@athen.localhost"));
        assert_eq!(events[0].kind, Some(EventKind::Relayed));
    }

    #[test]
    fn a_file_is_served_only_with_its_own_bytes() {
        let output = athen_clinical::write::Output {
            file_name: "DPS00001.HL7".into(),
            mime_type: "application/hl7-v2",
            bytes: b"MSH|^~\\&|ATHEN\r".to_vec(),
        };
        let raw = crate::conversion::attach(
            b"From: a@b.test\r\nSubject: x\r\n\r\nDear colleague\r\n",
            &output,
            "hl7-oru",
        );
        let file = ImportFile {
            name: "DPS00001.HL7".into(),
            format: "hl7-oru".into(),
            content_type: "application/hl7-v2".into(),
            size: output.bytes.len() as u64,
            sha256: sha256_hex(&output.bytes),
        };
        assert_eq!(file_bytes(&raw, &file).unwrap(), output.bytes);
        let other = ImportFile {
            sha256: sha256_hex(b"something else"),
            ..file.clone()
        };
        assert!(file_bytes(&raw, &other).is_err());
        let missing = ImportFile {
            name: "DPS00002.HL7".into(),
            ..file.clone()
        };
        assert!(file_bytes(&raw, &missing).is_err());
        // A sender's own part of the same name, before ours, is passed over.
        let forged = crate::conversion::attach(
            b"From: a@b.test\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nDear colleague\r\n\
--b\r\nContent-Type: application/hl7-v2; name=\"DPS00001.HL7\"\r\n\
Content-Disposition: attachment; filename=\"DPS00001.HL7\"\r\n\r\nMSH|forged\r\n--b--\r\n",
            &output,
            "hl7-oru",
        );
        assert_eq!(file_bytes(&forged, &file).unwrap(), output.bytes);
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn reasons_are_one_short_line() {
        assert_eq!(reason_line("disk\nfull\r"), "disk full");
        assert_eq!(reason_line("  \n"), "no reason given");
        assert_eq!(reason_line(&"x".repeat(1000)).len(), 300);
    }
}
