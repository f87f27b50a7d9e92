//! The JSON API, version 1 (`/api/v1/…`, described in docs/api.md): what a
//! program needs to use a mailbox — log in (which unlocks it and starts
//! unspooling, the newest page first), list folders page by page, read a
//! message (recorded, and its read receipt sent by the mailbox's policy),
//! follow a message's audit trail, and wait for changes.
//!
//! Authentication is a bearer token from `POST /api/v1/session`. Browsers
//! never send it by themselves, so the API needs no CSRF token, and it
//! sends no CORS headers, so no other site's script can read its answers.
//! Every answer that is not a message is JSON; every error is
//! `{"error": "…"}` with a status that says what kind.

use crate::WebState;
use crate::app::{ApiError, ApiResult, Caller, MailServices, PeerAddr, services, session_of};
use crate::letters::{folder_of, message_at, open_letter, parse_cursor};
use crate::session::end_session;
use athen_core::account::Doors;
use athen_core::clock::rfc3339;
use athen_core::mailbox::SpecialFolder;
use athen_mail::live::MailboxState;
use athen_mail::{audit, mdn, read};
use athen_vault::VaultError;
use athen_vault::auth::FirstStep;
use athen_vault::sessions::Via;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Pages hold at most this many messages.
const MAX_PAGE: u32 = 200;
const DEFAULT_PAGE: u32 = 50;
/// A list of the Inbox waits at most this long for its newest page to be
/// unspooled after log-in.
const FIRST_PAGE_WAIT: Duration = Duration::from_secs(5);
/// The longest a client may wait for changes in one request.
const MAX_CHANGES_WAIT: u64 = 60;

/// The caller of an API route behind `door`: its bearer token's session,
/// which must open that door (a token made for the downloader reaches the
/// downloader's routes and nothing else).
pub(crate) async fn caller(
    mail: &MailServices,
    headers: &HeaderMap,
    door: Doors,
) -> ApiResult<Caller> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Zeroizing::new(t.trim().to_string()))
        .ok_or_else(ApiError::unauthorised)?;
    let c = session_of(mail, token)
        .await?
        .ok_or_else(ApiError::unauthorised)?;
    if !c.session.doors.contains(door) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this app token was not made for this; make one in Settings that is",
        ));
    }
    Ok(c)
}

#[derive(Deserialize)]
pub(crate) struct LoginBody {
    login: String,
    password: String,
    /// The one-time code, for a password of a login with two-step sign-in.
    #[serde(default)]
    code: Option<String>,
}

impl Drop for LoginBody {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

/// `POST /api/v1/session`: log in with a password or app token.
pub(crate) async fn login(
    State(state): State<Arc<WebState>>,
    peer: Option<axum::Extension<PeerAddr>>,
    body: Result<Json<LoginBody>, JsonRejection>,
) -> ApiResult<Response> {
    let mail = services(&state)?;
    let Json(body) = body.map_err(|e| {
        ApiError::new(
            e.status(),
            format!(
                "send {{\"login\": …, \"password\": …}} as JSON ({})",
                e.body_text()
            ),
        )
    })?;
    let source = peer.map(|p| p.0.0.ip());
    // An app token opens an API session with its own doors (the
    // downloader's, say); a password opens every door, after its code.
    let first = if athen_vault::codes::parse_app_token(&body.password).is_some() {
        mail.authenticator
            .unlock(&body.login, &body.password, source, Doors::DOWNLOADER)
            .await
            .map(FirstStep::Done)
    } else {
        mail.authenticator
            .sign_in(&body.login, &body.password, source)
            .await
    };
    let unlocked = match first {
        Ok(FirstStep::Done(u)) => Ok(u),
        Ok(FirstStep::CodeNeeded(half)) => match &body.code {
            None => Err(VaultError::SecondStepNeeded),
            Some(code) => mail
                .authenticator
                .second_step(half, code, source)
                .await
                .map_err(|failed| failed.error),
        },
        Err(e) => Err(e),
    };
    let unlocked = match unlocked {
        Ok(u) => u,
        Err(e @ (VaultError::SecondStepNeeded | VaultError::BadCode)) => {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()));
        }
        Err(VaultError::BadCredential) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                VaultError::BadCredential.to_string(),
            ));
        }
        Err(VaultError::Throttled { retry_after_secs }) => {
            return Err(ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("too many failed log-ins; try again in {retry_after_secs} seconds"),
                )
            });
        }
        Err(e @ (VaultError::AccountNotActive(_) | VaultError::NotThisDoor(_))) => {
            return Err(ApiError::new(StatusCode::FORBIDDEN, e.to_string()));
        }
        Err(e) => {
            tracing::error!(error = %e, "log-in failed");
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server could not log you in; the error is logged",
            ));
        }
    };
    let account = unlocked.account.clone();
    let login = unlocked.login.name.clone();
    let token = mail
        .sessions
        .open(unlocked, Via::Api, source)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let secret = mail
        .sessions
        .unlocked(account.mailbox_id)
        .ok_or_else(ApiError::unauthorised)?;
    mail.live.opened(&account, &secret);
    tracing::info!(login = %login, "API session opened");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token.as_str(),
            "address": account.address,
            "login": login,
            "idle_timeout_secs": mail.sessions.limits().idle_secs,
        })),
    )
        .into_response())
}

/// `DELETE /api/v1/session`: log out. The mailbox locks when this was
/// its last session.
pub(crate) async fn logout(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let mail = services(&state)?;
    end_session(mail, caller(mail, &headers, Doors::NONE).await?);
    Ok(StatusCode::NO_CONTENT)
}

fn state_json(s: &MailboxState) -> Value {
    json!({
        "generation": s.generation,
        "first_page_ready": s.first_page_ready,
        "waiting": s.waiting,
        "error": s.error,
    })
}

/// `GET /api/v1/mailbox`: the address, folders with their sizes, and how
/// unspooling goes.
pub(crate) async fn mailbox(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let mail = services(&state)?;
    let c = caller(mail, &headers, Doors::DOWNLOADER).await?;
    let live = mail.live.opened(&c.account, &c.secret).borrow().clone();
    let mut folders = Vec::new();
    for f in mail.store.folders(c.session.mailbox_id).await? {
        let n = mail
            .store
            .count_in_folder(c.session.mailbox_id, f.id)
            .await?;
        folders.push(json!({"name": f.name, "messages": n}));
    }
    Ok(Json(json!({
        "address": c.account.address,
        "name": c.account.name,
        "login": c.session.login_name,
        "folders": folders,
        "unspool": state_json(&live),
    })))
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    limit: Option<u32>,
    /// The `next` of the page before.
    before: Option<String>,
}

/// `GET /api/v1/folders/{folder}/messages?limit=&before=`: a page of the
/// folder, newest first. Right after log-in the Inbox waits (up to a few
/// seconds) for its newest page to be unspooled.
pub(crate) async fn messages(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path(folder): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let mail = services(&state)?;
    let c = caller(mail, &headers, Doors::API).await?;
    let f = folder_of(mail, &c, &folder).await?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit: from 1 to {MAX_PAGE}"),
        ));
    }
    let before = q.before.as_deref().map(parse_cursor).transpose()?;
    let mut live = mail.live.opened(&c.account, &c.secret);
    if f.name == SpecialFolder::Inbox.name() {
        let _ = tokio::time::timeout(FIRST_PAGE_WAIT, live.wait_for(|s| s.first_page_ready)).await;
    }
    let unspool = live.borrow().clone();
    let page = read::page(
        mail.store.as_ref(),
        c.session.mailbox_id,
        &f,
        &c.secret,
        before,
        limit,
    )
    .await?;
    let next = (page.len() == limit as usize)
        .then(|| page.last())
        .flatten()
        .map(|m| {
            format!(
                "{}.{}.{}",
                m.message.received_at, m.message.arrival, m.message.uid
            )
        });
    let rows: Vec<Value> = page
        .iter()
        .map(|m| {
            json!({
                "uid": m.message.uid,
                "received_at": rfc3339(m.message.received_at),
                "size": m.message.size,
                "seen": m.message.flags & athen_core::mailbox::flags::SEEN != 0,
                "subject": m.meta.subject,
                "from": m.meta.from,
                "to": m.meta.to,
                "date": m.meta.date,
                "message_id": m.meta.message_id,
            })
        })
        .collect();
    Ok(Json(json!({
        "folder": f.name,
        "messages": rows,
        "next": next,
        "unspool": state_json(&unspool),
    })))
}

/// `GET /api/v1/folders/{folder}/messages/{uid}`: the message exactly as
/// received (with any import file attached), as `message/rfc822`. Opening
/// it is recorded in the trail, and a read receipt is sent if the letter
/// asked for one and the mailbox's policy allows; the
/// `Athen-Read-Receipt` header says what was done.
pub(crate) async fn message(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path((folder, uid)): Path<(String, u32)>,
) -> ApiResult<Response> {
    let mail = services(&state)?;
    let c = caller(mail, &headers, Doors::API).await?;
    let m = message_at(mail, &c, &folder, uid).await?;
    let (raw, outcome) = open_letter(mail, &c, &m, state.clock.now()).await?;
    let receipt = match outcome {
        mdn::ReceiptOutcome::Sent(_) | mdn::ReceiptOutcome::Queued(_) => "sent",
        mdn::ReceiptOutcome::AlreadySent => "already-sent",
        mdn::ReceiptOutcome::Policy(p) => p.as_str(),
        mdn::ReceiptOutcome::NotSent(_) => "not-requested",
        mdn::ReceiptOutcome::OtherServer(_) => "not-sent",
        mdn::ReceiptOutcome::OwnLetter => "own-letter",
    };
    let mut res = (StatusCode::OK, raw.to_vec()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    h.insert("athen-read-receipt", HeaderValue::from_static(receipt));
    Ok(res)
}

/// `GET /api/v1/folders/{folder}/messages/{uid}/audit`: the message's
/// timeline, oldest first.
pub(crate) async fn message_audit(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path((folder, uid)): Path<(String, u32)>,
) -> ApiResult<Json<Value>> {
    let mail = services(&state)?;
    let c = caller(mail, &headers, Doors::API).await?;
    let m = message_at(mail, &c, &folder, uid).await?;
    let meta = read::with_meta(m, &c.secret)?.meta;
    let id = meta.message_id.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("message {uid} has no Message-ID"),
        )
    })?;
    let all = audit::trail(mail.store.as_ref(), c.session.mailbox_id, &c.secret).await?;
    let events: Vec<Value> = audit::of_message(all, &id)
        .iter()
        .map(audit::TrailItem::to_json)
        .collect();
    Ok(Json(json!({ "message_id": id, "events": events })))
}

#[derive(Deserialize)]
pub(crate) struct ChangesQuery {
    #[serde(default)]
    since: u64,
    #[serde(default)]
    wait: u64,
}

/// `GET /api/v1/changes?since=G&wait=S`: answers as soon as the mailbox's
/// generation is past `since` (new mail filed, the trail grown), or after
/// `wait` seconds (at most 60) with the generation unchanged.
pub(crate) async fn changes(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Query(q): Query<ChangesQuery>,
) -> ApiResult<Json<Value>> {
    let mail = services(&state)?;
    let c = caller(mail, &headers, Doors::API).await?;
    let mut live = mail.live.opened(&c.account, &c.secret);
    // The session's secret is not held while waiting: a log-out meanwhile
    // locks the mailbox at once.
    drop(c);
    let wait = Duration::from_secs(q.wait.min(MAX_CHANGES_WAIT));
    let _ = tokio::time::timeout(wait, live.wait_for(|s| s.generation > q.since)).await;
    let now = live.borrow().clone();
    Ok(Json(state_json(&now)))
}
