//! The caller's letters, for the web app's pages and the JSON API alike:
//! a folder or a letter of their own mailbox found by name and number (never
//! another's), a page cursor read, and a letter opened, which records the
//! read and sends its receipt by the mailbox's policy.

use crate::app::{ApiError, ApiResult, Caller, MailServices};
use athen_core::mailbox::Folder;
use athen_core::store::PageCursor;
use athen_mail::{MailError, mdn, read};
use axum::http::StatusCode;
use zeroize::Zeroizing;

/// A page cursor as the API gives it (`received_at.arrival.uid`).
pub(crate) fn parse_cursor(s: &str) -> ApiResult<PageCursor> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "before: give the \"next\" value of the previous page",
        )
    };
    let mut parts = s.split('.').map(|p| p.parse::<i64>().map_err(|_| bad()));
    let (Some(at), Some(arrival), Some(uid), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    Ok(PageCursor {
        received_at: at?,
        arrival: arrival?,
        uid: u32::try_from(uid?).map_err(|_| bad())?,
    })
}

pub(crate) async fn folder_of(mail: &MailServices, c: &Caller, name: &str) -> ApiResult<Folder> {
    read::folder(mail.store.as_ref(), c.session.mailbox_id, name)
        .await
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, format!("there is no folder {name}")))
}

/// Opens a letter for the caller: its raw text, after recording that their
/// login read it and sending its read receipt by the mailbox's policy (one
/// letter at a time per mailbox, so a receipt goes once).
pub(crate) async fn open_letter(
    mail: &MailServices,
    c: &Caller,
    m: &athen_core::mailbox::StoredMessage,
    now: athen_core::clock::UnixTime,
) -> Result<(Zeroizing<Vec<u8>>, mdn::ReceiptOutcome), MailError> {
    let settings = mail.store.settings(c.session.mailbox_id).await?;
    open_letter_with(mail, c, m, now, settings.receipt_policy).await
}

/// [`open_letter`] with the receipt policy given: `Always` when the
/// person answered "ask" with "send it".
pub(crate) async fn open_letter_with(
    mail: &MailServices,
    c: &Caller,
    m: &athen_core::mailbox::StoredMessage,
    now: athen_core::clock::UnixTime,
    policy: athen_core::mailbox::ReceiptPolicy,
) -> Result<(Zeroizing<Vec<u8>>, mdn::ReceiptOutcome), MailError> {
    let raw = read::raw_message(mail.blobs.as_ref(), &c.secret, m).await?;
    let reader = mdn::Reader {
        mailbox: c.session.mailbox_id,
        secret: &c.secret,
        address: &c.account.address,
        login: &c.session.login_name,
        policy,
        hostname: &mail.hostname,
    };
    let outcome = mail
        .live
        .letter_read(mail.queue.as_deref(), &reader, m, &raw, now)
        .await?;
    Ok((raw, outcome))
}

/// The caller's message `uid` in `folder` (only ever in their own mailbox).
pub(crate) async fn message_at(
    mail: &MailServices,
    c: &Caller,
    folder: &str,
    uid: u32,
) -> ApiResult<athen_core::mailbox::StoredMessage> {
    let f = folder_of(mail, c, folder).await?;
    mail.store
        .message_by_uid(c.session.mailbox_id, f.id, uid)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("{} has no message {uid}", f.name),
            )
        })
}

/// Removes a letter: its row, then its sealed body. Its trail stays.
pub(crate) async fn delete_for_good(
    mail: &MailServices,
    c: &Caller,
    m: &athen_core::mailbox::StoredMessage,
) -> Result<(), ApiError> {
    let key = mail
        .store
        .delete_message(c.session.mailbox_id, m.id)
        .await
        .map_err(athen_mail::MailError::Store)?;
    if let Err(e) = mail.blobs.delete(&key).await {
        // The row is gone; the sealed body is unreadable without it.
        tracing::warn!(error = %e, "body of a deleted message not removed");
    }
    Ok(())
}
