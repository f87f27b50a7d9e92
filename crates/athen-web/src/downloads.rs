//! The downloader's part of the API (`/api/v1/downloads…`, docs/api.md):
//! the files made for the clinical system that wait to be fetched, each
//! file's bytes with its SHA-256, and the downloader's reports
//! (downloaded, imported, failed), carried out by
//! [`athen_mail::import::report`]. Like the rest of the API it works on
//! the caller's own mailbox only.

use crate::WebState;
use crate::api::caller;
use crate::app::{ApiError, ApiResult, Caller, services};
use athen_core::MessageId;
use athen_core::account::Doors;
use athen_core::clock::rfc3339;
use athen_core::mailbox::{ImportFileRow, ImportState, SpecialFolder};
use athen_mail::import::{self, Report, ReportError, Reporter};
use athen_mail::read;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// A list holds at most this many files.
const MAX_LIST: u32 = 500;
const DEFAULT_LIST: u32 = 100;

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    /// Comma-separated states; default `waiting,failed` (what to fetch).
    state: Option<String>,
    /// The `next` of the list before.
    after: Option<String>,
    limit: Option<u32>,
}

fn parse_id(s: &str) -> ApiResult<MessageId> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(MessageId)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("there is no download {s:?}")))
}

fn parse_states(s: Option<&str>) -> ApiResult<Vec<ImportState>> {
    let Some(s) = s else {
        return Ok(vec![ImportState::Waiting, ImportState::Failed]);
    };
    s.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| {
            ImportState::parse(w).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("state: {w:?} is not one of waiting, downloaded, imported, failed"),
                )
            })
        })
        .collect()
}

/// The file and its message as the list shows them.
fn file_json(row: &ImportFileRow, meta: &athen_mail::meta::MessageMeta, folder: &str) -> Value {
    let file = meta.import_file.as_ref();
    json!({
        "id": row.message.id.0.to_string(),
        "file": file.map(|f| f.name.as_str()),
        "format": file.map(|f| f.format.as_str()),
        "content_type": file.map(|f| f.content_type.as_str()),
        "size": file.map(|f| f.size),
        "sha256": file.map(|f| f.sha256.as_str()),
        "state": row.state.as_str(),
        "failures": row.failures,
        "changed_at": rfc3339(row.changed_at),
        "received_at": rfc3339(row.message.received_at),
        "folder": folder,
        "uid": row.message.uid,
        "message_id": meta.message_id,
        "from": meta.from,
    })
}

/// `GET /api/v1/downloads?state=&after=&limit=`: the import files in the
/// given states (default: waiting and failed, what a downloader fetches),
/// oldest filed first, leaving out letters in the Trash.
pub(crate) async fn list(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let mail = services(&state)?;
    let c = caller(mail, &headers, Doors::DOWNLOADER).await?;
    let states = parse_states(q.state.as_deref())?;
    let limit = q.limit.unwrap_or(DEFAULT_LIST);
    if limit == 0 || limit > MAX_LIST {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit: from 1 to {MAX_LIST}"),
        ));
    }
    let after = q
        .after
        .as_deref()
        .map(|a| {
            parse_id(a).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "after: give the \"next\" value of the previous list",
                )
            })
        })
        .transpose()?;
    let mailbox = c.session.mailbox_id;
    let folders = mail.store.folders(mailbox).await?;
    let trash = folders
        .iter()
        .find(|f| f.name == SpecialFolder::Trash.name())
        .map(|f| f.id);
    let rows = mail
        .store
        .import_files(mailbox, &states, trash, after, limit)
        .await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last())
        .flatten()
        .map(|r| r.message.id.0.to_string());
    let mut files = Vec::with_capacity(rows.len());
    for row in &rows {
        let meta = read::with_meta(row.message.clone(), &c.secret)?.meta;
        let folder = folders
            .iter()
            .find(|f| f.id == row.message.folder_id)
            .map_or("", |f| f.name.as_str());
        files.push(file_json(row, &meta, folder));
    }
    Ok(Json(json!({ "downloads": files, "next": next })))
}

/// The caller's import file `id`, with its message's metadata.
async fn file_of(
    mail: &crate::app::MailServices,
    c: &Caller,
    id: &str,
) -> ApiResult<(ImportFileRow, athen_mail::meta::MessageMeta)> {
    let id = parse_id(id)?;
    let row = mail
        .store
        .import_file(c.session.mailbox_id, id)
        .await?
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("there is no download {id}"))
        })?;
    let meta = read::with_meta(row.message.clone(), &c.secret)?.meta;
    Ok((row, meta))
}

/// `GET /api/v1/downloads/{id}`: the file's bytes, with its SHA-256 in
/// `Repr-Digest` (RFC 9530) and, as hex, in `Athen-SHA256`. Fetching it
/// is not reading the letter: no read receipt goes, and the trail records
/// only the downloader's report.
pub(crate) async fn fetch(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mail = services(&state)?;
    let c = caller(mail, &headers, Doors::DOWNLOADER).await?;
    let (row, meta) = file_of(mail, &c, &id).await?;
    let file = meta.import_file.ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server could not find this file; the error is logged",
        )
    })?;
    let raw = read::raw_message(mail.blobs.as_ref(), &c.secret, &row.message).await?;
    let bytes = import::file_bytes(&raw, &file)?;
    let digest = base64::engine::general_purpose::STANDARD.encode(import::sha256(&bytes));
    let mut res = (StatusCode::OK, bytes).into_response();
    let h = res.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set(h, header::CONTENT_TYPE, file.content_type.clone());
    // The name is the 8.3 name conversion made: letters, digits and a dot.
    set(
        h,
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{}\"", file.name),
    );
    set(
        h,
        header::HeaderName::from_static("repr-digest"),
        format!("sha-256=:{digest}:"),
    );
    set(
        h,
        header::HeaderName::from_static("athen-sha256"),
        file.sha256.clone(),
    );
    Ok(res)
}

#[derive(Deserialize)]
pub(crate) struct ReportBody {
    state: String,
    /// For `downloaded`: the SHA-256 the downloader checked (hex).
    #[serde(default)]
    sha256: Option<String>,
    /// For `failed`: why (one line; kept in the trail).
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/v1/downloads/{id}/report` with `{"state": "downloaded",
/// "sha256": "…"}`, `{"state": "imported"}` or `{"state": "failed",
/// "reason": "…"}`. Saying again what is already so answers `200` with
/// `"changed": false` and does nothing.
pub(crate) async fn report(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<ReportBody>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let mail = services(&state)?;
    let c = caller(mail, &headers, Doors::DOWNLOADER).await?;
    let Json(body) = body.map_err(|e| {
        ApiError::new(
            e.status(),
            format!(
                "send {{\"state\": \"downloaded\", \"sha256\": …}}, {{\"state\": \"imported\"}} or {{\"state\": \"failed\", \"reason\": …}} as JSON ({})",
                e.body_text()
            ),
        )
    })?;
    let report = match body.state.as_str() {
        "downloaded" => Report::Downloaded {
            sha256: body.sha256.ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "sha256: say which checksum the downloaded file had",
                )
            })?,
        },
        "imported" => Report::Imported,
        "failed" => Report::Failed {
            reason: body.reason.unwrap_or_default(),
        },
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("state: {other:?} is not one of downloaded, imported, failed"),
            ));
        }
    };
    let id = parse_id(&id)?;
    let settings = mail.store.settings(c.session.mailbox_id).await?;
    let reporter = Reporter {
        mailbox: c.session.mailbox_id,
        secret: &c.secret,
        address: &c.account.address,
        name: &c.account.name,
        login: &c.session.login_name,
        policy: settings.receipt_policy,
        hostname: &mail.hostname,
    };
    // One report at a time per mailbox (as read receipts): a report said
    // twice at once is carried out once.
    let opening = mail.live.opening(c.session.mailbox_id);
    let _one_at_a_time = opening.lock().await;
    let done = import::report(
        mail.store.as_ref(),
        mail.blobs.as_ref(),
        mail.queue.as_deref(),
        &reporter,
        id,
        report,
        state.clock.now(),
    )
    .await;
    // The sender's notice, if it went to a mailbox here, is filed at once;
    // the folder lists see the move.
    mail.live.wake(c.session.mailbox_id);
    let done = done.map_err(|e| match e {
        ReportError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, format!("there is no download {id}"))
        }
        ReportError::Conflict(why) => ApiError::new(StatusCode::CONFLICT, why),
        e @ ReportError::ChecksumMismatch => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        ReportError::Mail(e) => e.into(),
    })?;
    Ok(Json(json!({
        "id": id.0.to_string(),
        "state": done.file.state.as_str(),
        "changed": done.changed,
        "failures": done.file.failures,
        "sender_told": done.sender_told,
    })))
}
