//! What the web app's pages and the JSON API share: the mail services,
//! the peer of a request, the live session behind a token ([`Caller`]),
//! and the error answer both give.

use crate::WebState;
use athen_core::account::{Account, CredentialKind};
use athen_core::clock::UnixTime;
use athen_core::queue::AutomaticMail;
use athen_core::store::{BlobStore, MetadataStore};
use athen_mail::MailError;
use athen_mail::live::LiveMail;
use athen_vault::MailboxSecret;
use athen_vault::VaultError;
use athen_vault::auth::{Authenticator, HalfSignedIn};
use athen_vault::sessions::{Session, Sessions};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use zeroize::Zeroizing;

/// The connection's peer, put into each request by the server (login
/// throttling counts failures per address as well as per login).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// What the mail API works with.
pub struct MailServices {
    pub sessions: Arc<Sessions>,
    pub authenticator: Authenticator,
    pub live: Arc<LiveMail>,
    pub store: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// Read receipts to other servers go through the outbound queue.
    pub queue: Option<Arc<dyn AutomaticMail>>,
    /// This server's name (in read receipts and Message-IDs).
    pub hostname: String,
    /// Sends letters written in the web app (`None`: compose says it cannot).
    pub submitter: Option<Arc<dyn athen_mail::submit::Submitter>>,
    /// Browser sign-ins waiting for their one-time code.
    pub half_signed_in: HalfSignIns,
}

/// An error answer.
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn unauthorised() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "log in first: send the token from POST /api/v1/session as \"Authorization: Bearer <token>\"",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<MailError> for ApiError {
    fn from(e: MailError) -> ApiError {
        match e {
            MailError::Store(athen_core::StoreError::NotFound(what)) => {
                ApiError::new(StatusCode::NOT_FOUND, format!("no such {what}"))
            }
            other => {
                // The error names ids and store paths only, never content.
                tracing::error!(error = %other, "API request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not do this; the error is logged",
                )
            }
        }
    }
}

impl From<athen_core::StoreError> for ApiError {
    fn from(e: athen_core::StoreError) -> ApiError {
        MailError::Store(e).into()
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn services(state: &WebState) -> ApiResult<&MailServices> {
    state.mail.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "mail is not available on this server",
        )
    })
}

/// The caller's live session, its account and the unlocked secret.
pub(crate) struct Caller {
    pub(crate) token: Zeroizing<String>,
    pub(crate) session: Session,
    pub(crate) account: Account,
    pub(crate) secret: Arc<MailboxSecret>,
}

/// The live session of a token (from the API's bearer header or the web
/// app's cookie); `None` if there is none, it ended, its account may no
/// longer log in, or its login was turned off.
pub(crate) async fn session_of(
    mail: &MailServices,
    token: Zeroizing<String>,
) -> Result<Option<Caller>, athen_core::StoreError> {
    let Some((session, secret)) = mail.sessions.get(&token) else {
        return Ok(None);
    };
    // One lookup: the account, through the session's login, which must
    // still be on (a staff login turned off, here or on the command line,
    // ends its sessions at their next request).
    let Some(account) = mail.store.account_of_live_login(session.login_id).await? else {
        mail.sessions.close_login(session.login_id);
        return Ok(None);
    };
    // A session an app token opened ends when the token is revoked, here
    // or on the command line.
    if session.kind == CredentialKind::AppToken
        && mail
            .store
            .credential(session.credential)
            .await?
            .is_none_or(|c| c.revoked_at.is_some())
    {
        mail.sessions.close_credential(session.credential);
        return Ok(None);
    }
    let account = Some(account).filter(|a| {
        a.id == session.account_id && a.status.may_log_in() && a.mailbox_id == session.mailbox_id
    });
    if account.is_none() {
        // Suspended, closed or moved: the session ends now, and the
        // mailbox locks if it was the last one holding it.
        mail.sessions.close(&token);
    }
    Ok(account.map(|account| Caller {
        token,
        session,
        account,
        secret,
    }))
}

/// How long the code page waits, and how many codes it takes.
pub(crate) const STEP_SECONDS: i64 = 300;
pub(crate) const STEP_TRIES: u8 = 5;
/// At most this many half-done sign-ins at once (each needed a right
/// password, so this bounds memory, not guessing).
const MAX_WAITING: usize = 10_000;

struct Waiting {
    half: HalfSignedIn,
    until: UnixTime,
    tries: u8,
}

/// Sign-ins waiting for their code.
#[derive(Default)]
pub struct HalfSignIns {
    waiting: Mutex<HashMap<String, Waiting>>,
}

impl HalfSignIns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a half-done sign-in; its token for the cookie.
    pub(crate) fn keep(
        &self,
        half: HalfSignedIn,
        tries: u8,
        now: UnixTime,
    ) -> Result<String, VaultError> {
        let token = athen_vault::codes::new_bootstrap_token()?.to_string();
        let mut w = self.lock();
        w.retain(|_, x| x.until > now);
        if w.len() >= MAX_WAITING {
            return Err(VaultError::Throttled {
                retry_after_secs: 60,
            });
        }
        w.insert(
            token.clone(),
            Waiting {
                half,
                until: now + STEP_SECONDS,
                tries,
            },
        );
        Ok(token)
    }

    /// Takes the half-done sign-in of `token` out, if it has not expired.
    pub(crate) fn take(&self, token: &str, now: UnixTime) -> Option<(HalfSignedIn, u8)> {
        let w = self.lock().remove(token)?;
        (w.until > now).then_some((w.half, w.tries))
    }

    /// How many are waiting (for tests and health).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
