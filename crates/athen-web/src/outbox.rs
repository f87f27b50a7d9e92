//! The downloader's upload folder, on the server's side (`POST
//! /api/v1/outbox?name=FILE`, docs/api.md): a PIT or HL7 file, or an RTF
//! or DOCX letter, that a practice's clinical system wrote is sent to the
//! addressee it names (PIT line 123, HL7 PRD/PV1, the letter's "Provider
//! No"), found in the directory by provider number, as a letter with the
//! file attached and the patient in its subject. The reading is
//! `athen_clinical::upload`; sending goes the way the compose page's
//! letters go (`Submitter`).

use crate::WebState;
use crate::api::caller;
use crate::app::{ApiError, ApiResult, services};
use athen_clinical::date::Date;
use athen_clinical::upload::{self, UploadKind};
use athen_core::account::{AccountStatus, Doors};
use athen_core::directory::DirectoryQuery;
use athen_mail::submit::{SendAs, SendError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The largest file sent (a letter with its images, an HL7 file with a PDF).
pub(crate) const MAX_UPLOAD: usize = 16 << 20;

#[derive(Deserialize)]
pub(crate) struct OutboxQuery {
    /// The file's name, as it was in the upload folder (optional here so
    /// that who asks is checked before what is asked).
    #[serde(default)]
    name: Option<String>,
}

fn refused(status: StatusCode, why: impl Into<String>) -> ApiError {
    ApiError::new(status, why)
}

/// `POST /api/v1/outbox?name=FILE` with the file as the body. An
/// `Idempotency-Key` header (the downloader sends the SHA-256 of the
/// file's name and bytes) makes sending it again harmless: the second
/// answer is `200 {"already": true}` and nothing goes.
pub(crate) async fn send(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Query(q): Query<OutboxQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mail = services(&state)?;
    let c = caller(mail, &headers, Doors::DOWNLOADER).await?;
    let name = q.name.as_deref().unwrap_or("").trim();
    if name.is_empty()
        || name.len() > 200
        || name.contains(['/', '\\', '"', '\r', '\n'])
        || name.chars().any(char::is_control)
    {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "name: the file's own name, without a folder",
        ));
    }
    let kind = UploadKind::of_name(name).ok_or_else(|| {
        refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "only PIT (.pit), HL7 (.hl7), RTF (.rtf) and Word (.docx) files are sent",
        )
    })?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200)
        // Kept in the clear to recognise a file sent again: a keyed digest
        // (mailbox key), so nobody who guesses a file can confirm it.
        .map(|k| c.secret.keyed_digest("sent upload", k.as_bytes()).to_vec());
    let mailbox = c.session.mailbox_id;
    if let Some(k) = &key
        && mail.store.upload_sent(mailbox, k).await?.is_some()
    {
        return Ok((StatusCode::OK, Json(json!({ "already": true }))));
    }
    let now = state.clock.now();
    let today = Date::from_unix(now);
    let addressed = upload::read(kind, &body, today)
        .map_err(|why| refused(StatusCode::UNPROCESSABLE_ENTITY, why))?;
    let provider = addressed.provider_number.clone();
    let hits = mail
        .store
        .search(&DirectoryQuery {
            provider_number: Some(provider.clone()),
            limit: 10,
            ..DirectoryQuery::default()
        })
        .await?;
    let mut addresses: Vec<String> = hits
        .into_iter()
        .filter(|h| h.account_status == AccountStatus::Confirmed)
        .map(|h| h.address)
        .collect();
    addresses.sort();
    addresses.dedup();
    let to = match addresses.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("no one with provider number {provider} is in the ATHEN directory"),
            ));
        }
        many => {
            return Err(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "provider number {provider} is listed for {} mailboxes ({}): send this one from the web app",
                    many.len(),
                    many.join(", ")
                ),
            ));
        }
    };
    // A patient the file names but who does not pass the checks is left
    // out of the subject; the letter still goes.
    let patient = addressed.patient.validate(today).ok();
    let id = athen_mail::random_id()?;
    let subject = match &patient {
        Some(p) => p.subject("Letter"),
        None => format!("Letter ({name})"),
    };
    let mut b = MessageBuilder::new()
        .message_id(format!("{id}@{}", mail.hostname))
        .date(mail_builder::headers::date::Date::new(now))
        .from((c.account.name.clone(), c.account.address.clone()))
        .to(vec![mail_builder::headers::address::Address::new_address(
            None::<&str>,
            to.clone(),
        )])
        .subject(subject)
        .text_body(format!(
            "Please find attached {name}, sent from the clinical system of {}.\n",
            c.account.name
        ));
    if let Some(p) = &patient {
        b = b.header("X-Athen-Patient", Raw::new(p.header()));
    }
    b = b.attachment(kind.content_type(), name.to_string(), body.to_vec());
    let message = b.write_to_vec().map_err(|e| {
        tracing::error!(error = %e, "upload: the message could not be written");
        refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server could not do this; the error is logged",
        )
    })?;
    let submitter = mail.submitter.as_ref().ok_or_else(|| {
        refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server cannot send mail at the moment",
        )
    })?;
    let sent = submitter
        .send(
            SendAs {
                address: &c.account.address,
                mailbox,
                login: &c.session.login_name,
                secret: &c.secret,
                ask_receipt: true,
            },
            std::slice::from_ref(&to),
            &message,
        )
        .await;
    match sent {
        Ok(_) => {}
        Err(SendError::Recipient { address, reason }) => {
            return Err(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("cannot be sent to {address}: {reason}"),
            ));
        }
        Err(SendError::Refused(reason)) => {
            return Err(refused(StatusCode::UNPROCESSABLE_ENTITY, reason));
        }
        Err(SendError::Temporary(reason)) => {
            tracing::warn!(reason = %reason, "upload not sent; temporary");
            return Err(refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "a passing problem on the server; try again in a minute",
            ));
        }
    }
    // Recorded once sent: a crash between the two sends it again rather
    // than never.
    if let Some(k) = &key {
        mail.store.record_upload(mailbox, k, now).await?;
    }
    tracing::info!(login = %c.session.login_name, "upload sent");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "to": to,
            "provider_number": provider,
            "message_id": format!("{id}@{}", mail.hostname),
            "patient_found": patient.is_some(),
        })),
    ))
}
