//! The administrator's pages (`/admin`): sign-in for operators, the
//! server's health, accounts waiting to be confirmed (with those about to
//! expire), the welcome letters to print and post, confirming, suspending,
//! reinstating and closing accounts, the outbound queue, and under
//! `localserve` the mail kept in the catch-all folder.
//!
//! An operator never sees a letter: the queue shows addresses, sizes and
//! replies, not content, and account pages show what the directory
//! shows. The catch-all is the exception by design: it exists only where
//! mail is not really sent (`localserve`), so that it can be looked at.
//!
//! Operator sessions are kept apart from mailbox sessions: their own
//! `__Host-athen_admin` cookie, 30 minutes idle, 8 hours at most, CSRF
//! tokens derived from the session token, sign-in throttled per login and
//! per address with one answer for an unknown login and a wrong password.

use crate::WebState;
use crate::forms::{cookie, same, set_cookie};
use crate::layout::{escape, layout};
use athen_core::account::{Account, AccountStatus, StatusAction};
use athen_core::clock::{UnixTime, rfc3339};
use athen_core::ids::AccountId;
use athen_core::lifecycle::{self, ExpiryPolicy};
use athen_core::store::{AccountFilter, MetadataStore};
use athen_vault::QueueKey;
use athen_vault::auth::{Attempt, Outcome, Throttle, ThrottleLimits};
use athen_vault::codes;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

mod accounts;
mod letters;
mod outgoing;
mod sign_in;
pub(crate) mod two_step;

pub(crate) use accounts::{account_action, accounts, log};
pub(crate) use letters::{letters, letters_posted, print_letters};
pub(crate) use outgoing::{catch_all, catch_all_file, queue};
use sign_in::{login_form, start_session};
pub(crate) use sign_in::{login_page, login_submit, logout};

const ADMIN_COOKIE: &str = "__Host-athen_admin";
const ADMIN_LOGIN_COOKIE: &str = "__Host-athen_admin_login";
const IDLE_SECONDS: i64 = 30 * 60;
const MAX_SECONDS: i64 = 8 * 60 * 60;
/// Who did it, in account records: "operator:LOGIN".
fn actor(s: &OperatorSession) -> String {
    format!("operator:{}", s.login)
}

#[derive(Clone)]
struct OperatorSession {
    id: athen_core::ids::OperatorId,
    login: String,
    name: String,
    started: UnixTime,
    last: UnixTime,
}

/// What the administrator's pages need.
pub struct AdminServices {
    pub store: Arc<dyn MetadataStore>,
    /// Opens the confirmation codes kept for the welcome letters.
    pub letters_key: Arc<QueueKey>,
    pub expiry: ExpiryPolicy,
    /// The page printed in welcome letters for entering the code.
    pub confirm_url: String,
    /// This server's name (printed in the letters).
    pub hostname: String,
    /// Where `localserve` keeps mail for other domains (`None`: really sent).
    pub catch_all: Option<PathBuf>,
    /// When the server started, for the health page.
    pub started_at: UnixTime,
    sessions: Mutex<HashMap<[u8; 32], OperatorSession>>,
    /// Sign-ins whose password was right and whose code is to come.
    pending: Mutex<HashMap<[u8; 32], two_step::Pending>>,
    throttle: Throttle,
}

impl AdminServices {
    pub fn new(
        store: Arc<dyn MetadataStore>,
        letters_key: Arc<QueueKey>,
        expiry: ExpiryPolicy,
        confirm_url: String,
        hostname: String,
        catch_all: Option<PathBuf>,
        started_at: UnixTime,
    ) -> Self {
        AdminServices {
            store,
            letters_key,
            expiry,
            confirm_url,
            hostname,
            catch_all,
            started_at,
            sessions: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            throttle: Throttle::new(ThrottleLimits {
                per_login: 5,
                per_source: 20,
                window_secs: 900,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], OperatorSession>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn key_of(token: &str) -> [u8; 32] {
    Sha256::digest(format!("athen admin session v1:{token}").as_bytes()).into()
}

fn csrf_of(token: &str) -> String {
    let d = Sha256::digest(format!("athen admin csrf v1:{token}").as_bytes());
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A signed-in operator.
struct Operator {
    token: zeroize::Zeroizing<String>,
    session: OperatorSession,
}

async fn services(state: &WebState) -> Result<&AdminServices, Response> {
    state.admin.as_deref().ok_or_else(|| {
        page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not available",
            "<p>The administrator's pages are not available on this server.</p>",
        )
    })
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        Html(layout(
            &escape(title),
            &format!("<h1>{}</h1>\n{body}", escape(title)),
        )),
    )
        .into_response()
}

fn see_other(to: &str) -> Response {
    crate::layout::see_other(to)
}

/// The operator of the request's cookie, or the sign-in page.
async fn operator<'a>(
    state: &'a WebState,
    headers: &HeaderMap,
) -> Result<(&'a AdminServices, Operator), Response> {
    let admin = services(state).await?;
    let now = state.clock.now();
    let token = cookie(headers, ADMIN_COOKIE).ok_or_else(|| see_other("/admin/login"))?;
    let key = key_of(&token);
    let mut sessions = admin.lock();
    let session = match sessions.get_mut(&key) {
        Some(s) if now - s.last < IDLE_SECONDS && now - s.started < MAX_SECONDS => {
            s.last = now;
            s.clone()
        }
        Some(_) => {
            sessions.remove(&key);
            return Err(see_other("/admin/login"));
        }
        None => return Err(see_other("/admin/login")),
    };
    Ok((admin, Operator { token, session }))
}

/// A signed-in administrator's page: the operator of the cookie (else the
/// administrator's sign-in page) and the administrator's services.
pub(crate) struct SignedInOperator {
    admin: Arc<AdminServices>,
    op: Operator,
}

impl axum::extract::FromRequestParts<Arc<WebState>> for SignedInOperator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<WebState>,
    ) -> Result<Self, Self::Rejection> {
        let (_, op) = operator(state, &parts.headers).await?;
        let admin = state.admin.clone().ok_or_else(|| {
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not available",
                "<p>The administrator's pages are not available on this server.</p>",
            )
        })?;
        Ok(SignedInOperator { admin, op })
    }
}

/// A signed-in administrator's form post: the operator first, then the
/// form, then its CSRF token (403 if not the session's).
pub(crate) struct OperatorForm<T> {
    admin: Arc<AdminServices>,
    op: Operator,
    form: T,
}

impl<T> axum::extract::FromRequest<Arc<WebState>> for OperatorForm<T>
where
    T: serde::de::DeserializeOwned + crate::session::WithCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        state: &Arc<WebState>,
    ) -> Result<Self, Self::Rejection> {
        use axum::extract::FromRequestParts;
        let (mut parts, body) = req.into_parts();
        let SignedInOperator { admin, op } =
            SignedInOperator::from_request_parts(&mut parts, state).await?;
        let req = axum::extract::Request::from_parts(parts, body);
        let Form(form) = Form::<T>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !same(crate::session::WithCsrf::csrf(&form), &csrf_of(&op.token)) {
            return Err(crate::layout::forbidden());
        }
        Ok(OperatorForm { admin, op, form })
    }
}

/// The frame of every signed-in administrator page.
fn admin_page(op: &Operator, status: StatusCode, title: &str, body: &str) -> Response {
    let nav = "<nav aria-label=\"Administration\"><ul class=\"folders\">\
<li><a href=\"/admin\">Server</a></li><li><a href=\"/admin/accounts\">Accounts</a></li>\
<li><a href=\"/admin/letters\">Welcome letters</a></li><li><a href=\"/admin/queue\">Outgoing mail</a></li>\
<li><a href=\"/admin/catch-all\">Catch-all</a></li><li><a href=\"/admin/log\">Who did what</a></li><li><a href=\"/admin/two-step\">Two-step sign-in</a></li></ul></nav>";
    let html = layout(
        &escape(title),
        &format!(
            "{nav}\n<form method=\"post\" action=\"/admin/logout\" class=\"signout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<span>Administrator: {}</span> <button type=\"submit\">Sign out</button></form>\n<h1>{}</h1>\n{body}",
            csrf_of(&op.token),
            escape(&op.session.name),
            escape(title)
        ),
    );
    (status, Html(html)).into_response()
}

fn failed(op: &Operator, what: &str, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, what, "administrator page failed");
    admin_page(
        op,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "<p>The server could not finish this; nothing was changed. The error is in the server log.</p>",
    )
}

#[derive(Deserialize, Default)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

impl crate::session::WithCsrf for ActionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn day(t: UnixTime) -> String {
    rfc3339(t).get(..10).unwrap_or_default().to_string()
}

/// `GET /admin`: the server's health.
pub(crate) async fn dashboard(
    State(state): State<Arc<WebState>>,
    SignedInOperator { admin, op }: SignedInOperator,
) -> Response {
    let admin = &*admin;
    let s = admin.store.as_ref();
    let counts = async {
        // One read of the accounts, counted by status.
        let all = s.list_accounts(&AccountFilter::default()).await?;
        let by_status: Vec<(AccountStatus, usize)> = [
            AccountStatus::Provisional,
            AccountStatus::Confirmed,
            AccountStatus::Suspended,
            AccountStatus::Closed,
        ]
        .into_iter()
        .map(|st| (st, all.iter().filter(|a| a.status == st).count()))
        .collect();
        let letters = s.welcome_letters(true).await?;
        let queue = s.queued_messages().await?;
        Ok::<_, athen_core::StoreError>((by_status, letters, queue))
    }
    .await;
    let (by_status, letters, queue) = match counts {
        Ok(x) => x,
        Err(e) => return failed(&op, "dashboard", e),
    };
    let now = state.clock.now();
    let waiting_letters = letters.iter().filter(|l| l.posted_at.is_none()).count();
    let waiting_recipients: usize = queue
        .iter()
        .flat_map(|m| &m.recipients)
        .filter(|r| r.state == athen_core::queue::RecipientState::Queued)
        .count();
    let oldest = queue
        .iter()
        .map(|m| m.created_at)
        .min()
        .map(|t| format!(" (oldest queued {})", escape(&rfc3339(t))))
        .unwrap_or_default();
    let unlocked = state
        .mail
        .as_ref()
        .map(|m| m.sessions.unlocked_count())
        .unwrap_or(0);
    let accounts: String = by_status
        .iter()
        .map(|(st, n)| {
            format!(
                "<li><a href=\"/admin/accounts?status={0}\">{0}</a>: {n}</li>",
                st.as_str()
            )
        })
        .collect();
    let up = now - admin.started_at;
    let body = format!(
        "<h2>Health</h2>\n<dl class=\"fields\"><dt>Status</dt><dd>running, version {}</dd>\
<dt>Running for</dt><dd>{} h {} min (since {} UTC)</dd>\
<dt>Mailboxes unlocked now</dt><dd>{unlocked}</dd>\
<dt>Outgoing mail</dt><dd>{} message(s), {waiting_recipients} recipient(s) waiting{oldest}</dd>\
<dt>Welcome letters to post</dt><dd>{waiting_letters}</dd></dl>\n\
<h2>Accounts</h2>\n<ul>{accounts}</ul>\n\
<p>Monitoring systems can poll <code>/healthz</code> (no sign-in).</p>",
        env!("CARGO_PKG_VERSION"),
        up / 3600,
        (up % 3600) / 60,
        escape(&rfc3339(admin.started_at)),
        queue.len(),
    );
    admin_page(&op, StatusCode::OK, "Server", &body)
}
