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

pub(crate) mod two_step;

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

fn login_form(csrf: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    layout(
        "Administrator sign-in",
        &format!(
            "<h1>Administrator sign-in</h1>\n{error}<p>For the people who run this server. Practices sign in <a href=\"/login\">here</a>.</p>\n\
<form method=\"post\" action=\"/admin/login\">\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
<label for=\"login\">Administrator user name</label><input id=\"login\" name=\"login\" required autocomplete=\"username\">\n\
<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" required autocomplete=\"current-password\">\n\
<button type=\"submit\">Sign in</button>\n</form>",
            escape(csrf)
        ),
    )
}

/// `GET /admin/login`
pub(crate) async fn login_page() -> Response {
    crate::forms::page_with_form_token(ADMIN_LOGIN_COOKIE, |csrf| login_form(csrf, None))
}

/// `POST /admin/login`: a new operator session.
/// A verifier no password matches, made once with the server's Argon2
/// settings, for operator names that do not exist.
async fn unknown_operator_verifier(kdf: athen_vault::KdfParams) -> Vec<u8> {
    static VERIFIER: tokio::sync::OnceCell<Vec<u8>> = tokio::sync::OnceCell::const_new();
    VERIFIER
        .get_or_init(|| async move {
            let random = codes::new_bootstrap_token().unwrap_or_default();
            athen_vault::auth::kdf_work(move || codes::password_verifier(random.as_bytes(), kdf))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default()
        })
        .await
        .clone()
}

pub(crate) async fn login_submit(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    Form(f): Form<crate::sign_in::LoginForm>,
) -> Response {
    let admin = match services(&state).await {
        Ok(a) => a,
        Err(res) => return res,
    };
    let Some(expected) = cookie(&headers, ADMIN_LOGIN_COOKIE) else {
        return crate::layout::forbidden();
    };
    if f.csrf.is_empty() || !same(&f.csrf, &expected) {
        return crate::layout::forbidden();
    }
    let again =
        |status, msg: &str| (status, Html(login_form(&expected, Some(msg)))).into_response();
    let now = state.clock.now();
    let name = f.login.trim().to_ascii_lowercase();
    let source = peer.map(|p| p.0.0.ip());
    // Counted before the Argon2 work, as every sign-in is.
    let reserved = match admin
        .throttle
        .reserve(&name, source, Attempt::Password, state.clock.as_ref())
        .await
    {
        Ok(r) => r,
        Err(athen_vault::VaultError::Throttled { retry_after_secs }) => {
            return again(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "Too many attempts that did not work. Please wait {} minute(s).",
                    retry_after_secs.div_ceil(60)
                ),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "operator sign-in failed");
            return again(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server could not sign you in.",
            );
        }
    };
    let found = match state.operators.operator_by_login(&name).await {
        Ok(o) => o,
        Err(e) => {
            admin.throttle.settle(reserved, Outcome::NotCounted);
            tracing::error!(error = %e, "operator sign-in failed");
            return again(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server could not sign you in.",
            );
        }
    };
    // An unknown login costs the same single Argon2 run as a wrong
    // password: against a verifier made once, off the async threads.
    let verifier = match &found {
        Some(o) => o.verifier.clone(),
        None => unknown_operator_verifier(state.kdf).await,
    };
    let password = zeroize::Zeroizing::new(f.password.as_bytes().to_vec());
    let right = athen_vault::auth::kdf_work(move || codes::verify_password(&verifier, &password))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(false);
    let Some(op) = found.filter(|_| right) else {
        admin.throttle.settle(reserved, Outcome::Failed);
        tracing::info!(login = %name, source = ?source, "failed operator sign-in");
        return again(
            StatusCode::UNAUTHORIZED,
            "The user name or password is not right.",
        );
    };
    // With two-step sign-in, the code comes next; the attempt is settled
    // when it does.
    if let Some(sealed) = &op.totp_sealed {
        admin.throttle.settle(reserved, Outcome::NotCounted);
        return match athen_vault::totp::TotpKey::open_for_operator(
            &admin.letters_key,
            op.id,
            sealed,
        ) {
            Ok(key) => two_step::ask_for_code(admin, &expected, op, key, now),
            Err(e) => {
                tracing::error!(error = %e, "an operator's two-step key cannot be opened");
                again(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Your two-step key cannot be read; ask another administrator to turn it off.",
                )
            }
        };
    }
    admin.throttle.settle(reserved, Outcome::SignedIn);
    start_session(admin, &op, now)
}

/// A new administrator session for `op`: the Server page, with its cookie.
fn start_session(
    admin: &AdminServices,
    op: &athen_core::account::Operator,
    now: UnixTime,
) -> Response {
    let token = match codes::new_bootstrap_token() {
        Ok(t) => t,
        Err(e) => {
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                &escape(&e.to_string()),
            );
        }
    };
    admin
        .lock()
        .retain(|_, s| now - s.last < IDLE_SECONDS && now - s.started < MAX_SECONDS);
    admin.lock().insert(
        key_of(&token),
        OperatorSession {
            id: op.id,
            login: op.login.clone(),
            name: op.name.clone(),
            started: now,
            last: now,
        },
    );
    tracing::info!(operator = %op.login, "operator signed in");
    let mut res = see_other("/admin");
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(ADMIN_COOKIE, &token, None));
    h.append(
        header::SET_COOKIE,
        set_cookie(ADMIN_LOGIN_COOKIE, "", Some(0)),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(two_step::STEP_COOKIE, "", Some(0)),
    );
    res
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

/// `POST /admin/logout`
pub(crate) async fn logout(
    OperatorForm { admin, op, form: _ }: OperatorForm<crate::session::CsrfForm>,
) -> Response {
    admin.lock().remove(&key_of(&op.token));
    let mut res = see_other("/admin/login");
    res.headers_mut()
        .append(header::SET_COOKIE, set_cookie(ADMIN_COOKIE, "", Some(0)));
    res
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

#[derive(Deserialize, Default)]
pub(crate) struct AccountsQuery {
    #[serde(default)]
    status: String,
    /// Set after an action, to say what was done.
    #[serde(default)]
    done: String,
}

/// The buttons for what may be done to an account in its status.
fn actions(op: &Operator, a: &Account) -> String {
    let csrf = csrf_of(&op.token);
    let button = |action: &str, label: &str, reason: bool, danger: bool| {
        let reason = if reason {
            format!(
                "<label for=\"reason-{action}-{id}\">Reason</label><input id=\"reason-{action}-{id}\" name=\"reason\" required>",
                id = a.id.0
            )
        } else {
            String::new()
        };
        format!(
            "<form method=\"post\" action=\"/admin/accounts/{}/{action}\" class=\"actions\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{reason}\
<button type=\"submit\"{}>{label}</button></form>",
            a.id.0,
            if danger { " class=\"danger\"" } else { "" }
        )
    };
    let mut out = String::new();
    match a.status {
        AccountStatus::Provisional => {
            out.push_str(&button("confirm", "Confirm by hand", false, false));
            out.push_str(&button("resend", "New letter", false, false));
        }
        AccountStatus::Confirmed => out.push_str(&button("suspend", "Suspend", true, true)),
        AccountStatus::Suspended => out.push_str(&button("reinstate", "Reinstate", false, false)),
        AccountStatus::Closed => {}
    }
    if a.status != AccountStatus::Closed {
        out.push_str(&button("close", "Close", true, true));
    }
    out
}

/// `GET /admin/accounts?status=`: accounts, those waiting and about to
/// expire first.
pub(crate) async fn accounts(
    State(state): State<Arc<WebState>>,
    SignedInOperator { admin, op }: SignedInOperator,
    Query(q): Query<AccountsQuery>,
) -> Response {
    let admin = &*admin;
    let status = match q.status.as_str() {
        "" => None,
        s => match s.parse::<AccountStatus>() {
            Ok(st) => Some(st),
            Err(e) => {
                return admin_page(
                    &op,
                    StatusCode::BAD_REQUEST,
                    "Accounts",
                    &format!("<p>{}</p>", escape(&e.to_string())),
                );
            }
        },
    };
    let list = match admin
        .store
        .list_accounts(&AccountFilter {
            status,
            ..AccountFilter::default()
        })
        .await
    {
        Ok(l) => l,
        Err(e) => return failed(&op, "accounts", e),
    };
    let now = state.clock.now();
    let closes = |a: &Account| closes_on(a, admin.expiry, now);
    let soon = i64::from(admin.expiry.close_after_days) * 86_400;
    let expiring: Vec<&Account> = list
        .iter()
        .filter(|a| closes(a).is_some_and(|c| c - now <= soon))
        .collect();
    let row = |a: &Account| {
        format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&a.name),
            escape(&a.address),
            a.kind.as_str(),
            a.status.as_str(),
            day(a.created_at),
            closes(a).map(day).unwrap_or_default(),
            actions(&op, a)
        )
    };
    let table = |caption: &str, rows: String| {
        format!(
            "<table>\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Address</th><th scope=\"col\">Kind</th>\
<th scope=\"col\">Status</th><th scope=\"col\">Registered</th><th scope=\"col\">Closes if not confirmed</th><th scope=\"col\">Actions</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n",
            escape(caption)
        )
    };
    let expiring_part = if expiring.is_empty() {
        "<p>No unconfirmed account is about to expire.</p>\n".to_string()
    } else {
        table(
            &format!(
                "Unconfirmed, closing within {} days",
                admin.expiry.close_after_days
            ),
            expiring.iter().map(|a| row(a)).collect(),
        )
    };
    let filters: String = ["", "provisional", "confirmed", "suspended", "closed"]
        .iter()
        .map(|s| {
            let label = if s.is_empty() { "all" } else { s };
            if *s == q.status {
                format!("<li><strong>{label}</strong></li>")
            } else {
                format!("<li><a href=\"/admin/accounts?status={s}\">{label}</a></li>")
            }
        })
        .collect();
    let done = match q.done.as_str() {
        "" => String::new(),
        d => format!("<p role=\"status\" class=\"done\">{}</p>\n", escape(d)),
    };
    let body = format!(
        "{done}<h2>About to expire</h2>\n<p>Accounts not confirmed within {} days are flagged, and closed {} days later (their data is kept).</p>\n{expiring_part}\
<h2>All accounts</h2>\n<nav aria-label=\"Show accounts\"><ul class=\"folders\">{filters}</ul></nav>\n{}",
        admin.expiry.flag_after_days,
        admin.expiry.close_after_days,
        if list.is_empty() {
            "<p>No accounts.</p>".to_string()
        } else {
            table("Accounts", list.iter().map(row).collect())
        }
    );
    admin_page(&op, StatusCode::OK, "Accounts", &body)
}

/// When the daily sweep ([`lifecycle::sweep_unconfirmed`]) will close an
/// unconfirmed account: its grace period after flagging, or, not yet
/// flagged, after it is flagged (at the latest by the next sweep).
fn closes_on(a: &Account, policy: ExpiryPolicy, now: UnixTime) -> Option<UnixTime> {
    let d = 86_400i64;
    let flag_after = i64::from(policy.flag_after_days) * d;
    let close_after = i64::from(policy.close_after_days) * d;
    (a.status == AccountStatus::Provisional).then(|| match a.flagged_at {
        Some(f) => f + close_after,
        None => (a.created_at + flag_after).max(now) + close_after,
    })
}

async fn account(
    admin: &AdminServices,
    id: i64,
) -> Result<Option<Account>, athen_core::StoreError> {
    admin.store.account(AccountId(id)).await
}

/// `POST /admin/accounts/{id}/{action}`: confirm, resend, suspend,
/// reinstate, close.
pub(crate) async fn account_action(
    State(state): State<Arc<WebState>>,
    Path((id, action)): Path<(i64, String)>,
    OperatorForm { admin, op, form: f }: OperatorForm<ActionForm>,
) -> Response {
    let admin = &*admin;
    let a = match account(admin, id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return admin_page(
                &op,
                StatusCode::NOT_FOUND,
                "No such account",
                "<p>There is no such account.</p>",
            );
        }
        Err(e) => return failed(&op, "account", e),
    };
    let who = actor(&op.session);
    let done = if action == "resend" {
        if a.status != AccountStatus::Provisional {
            Err("only an account not yet confirmed gets a new letter".to_string())
        } else {
            athen_vault::accounts::resend_welcome_letter(
                admin.store.as_ref(),
                state.clock.as_ref(),
                &admin.letters_key,
                a.id,
                &who,
            )
            .await
            .map(|()| {
                format!(
                    "A new letter for {} is waiting to be printed; the old code no longer works.",
                    a.address
                )
            })
            .map_err(|e| e.to_string())
        }
    } else {
        let step = match action.as_str() {
            "confirm" => Some((StatusAction::Confirm, "by the administrator")),
            "suspend" => Some((StatusAction::Suspend, f.reason.trim())),
            "reinstate" => Some((StatusAction::Reinstate, "")),
            "close" => Some((StatusAction::Close, f.reason.trim())),
            _ => None,
        };
        let Some((step, reason)) = step else {
            return admin_page(
                &op,
                StatusCode::NOT_FOUND,
                "No such action",
                "<p>There is no such action.</p>",
            );
        };
        if matches!(step, StatusAction::Suspend | StatusAction::Close) && reason.is_empty() {
            Err("please give a reason: it is kept in the account's record".to_string())
        } else {
            lifecycle::change_status(
                admin.store.as_ref(),
                state.clock.as_ref(),
                &a,
                step,
                &who,
                reason,
            )
            .await
            .map(|now| format!("{} is now {now}.", a.address))
            .map_err(|e| e.to_string())
        }
    };
    match done {
        Ok(msg) => {
            tracing::info!(operator = %op.session.login, account = a.id.0, action = %action, "account changed");
            // A suspended or closed account's sessions end now (web, API,
            // IMAP) and its mailbox locks: its key leaves memory.
            if matches!(action.as_str(), "suspend" | "close")
                && let Some(mail) = &state.mail
            {
                let ended = mail.sessions.close_mailbox(a.mailbox_id);
                tracing::info!(account = a.id.0, sessions = ended, "sessions ended");
            }
            let mut q = String::new();
            for b in msg.bytes() {
                if b.is_ascii_alphanumeric() {
                    q.push(b as char);
                } else {
                    q.push_str(&format!("%{b:02X}"));
                }
            }
            see_other(&format!("/admin/accounts?done={q}"))
        }
        Err(why) => admin_page(
            &op,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not done",
            &format!(
                "<p class=\"error\" role=\"alert\">{}</p>\n<p><a href=\"/admin/accounts\">Back to the accounts</a></p>",
                escape(&why)
            ),
        ),
    }
}

/// `GET /admin/letters`: the welcome letters waiting, to print in one PDF
/// and mark as posted.
pub(crate) async fn letters(
    State(_): State<Arc<WebState>>,
    SignedInOperator { admin, op }: SignedInOperator,
) -> Response {
    let admin = &*admin;
    let found = async {
        let mut rows = Vec::new();
        for l in admin.store.welcome_letters(true).await? {
            if let Some(a) = admin.store.account(l.account_id).await? {
                rows.push((l, a));
            }
        }
        Ok::<_, athen_core::StoreError>(rows)
    }
    .await;
    let rows = match found {
        Ok(r) => r,
        Err(e) => return failed(&op, "letters", e),
    };
    let csrf = csrf_of(&op.token);
    let waiting = rows.iter().filter(|(l, _)| l.posted_at.is_none()).count();
    let list: String = rows
        .iter()
        .map(|(l, a)| {
            format!(
                "<tr><td><input type=\"checkbox\" id=\"posted-{0}\" name=\"account\" value=\"{0}\"{3}> <label class=\"inline\" for=\"posted-{0}\">{1}</label></td>\
<td>{2}</td><td>{4}</td><td>{5}</td></tr>\n",
                a.id.0,
                escape(&a.name),
                escape(&a.address),
                if l.posted_at.is_none() { " checked" } else { "" },
                day(l.created_at),
                l.posted_at.map(day).unwrap_or_else(|| "not yet".into()),
            )
        })
        .collect();
    let body = if rows.is_empty() {
        "<p>No welcome letters are waiting: every account is confirmed or its letter posted and answered.</p>".to_string()
    } else {
        format!(
            "<p>{waiting} letter(s) to print and post. Print them all on plain A4 paper; each page folds to fit a DL window envelope.</p>\n\
<form method=\"post\" action=\"/admin/letters/print\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\">Print the waiting letters (PDF)</button>\n</form>\n\
<form method=\"post\" action=\"/admin/letters/posted\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
<table>\n<caption>Welcome letters</caption>\n<thead><tr><th scope=\"col\">Posted now</th><th scope=\"col\">Address</th>\
<th scope=\"col\">Made</th><th scope=\"col\">Posted</th></tr></thead>\n<tbody>\n{list}</tbody>\n</table>\n\
<button type=\"submit\">Mark the ticked letters as posted</button>\n</form>\n\
<p>A letter that got lost: make a new one from <a href=\"/admin/accounts?status=provisional\">the account</a> (New letter).</p>"
        )
    };
    admin_page(&op, StatusCode::OK, "Welcome letters", &body)
}

/// `POST /admin/letters/print`: the PDF of every letter not yet posted.
pub(crate) async fn print_letters(
    State(state): State<Arc<WebState>>,
    OperatorForm { admin, op, form: _ }: OperatorForm<ActionForm>,
) -> Response {
    let admin = &*admin;
    let batch = crate::welcome_letter::print_waiting(
        admin.store.as_ref(),
        &admin.letters_key,
        false,
        &admin.confirm_url,
        &admin.hostname,
        state.clock.now(),
    )
    .await;
    match batch {
        Ok(Some(b)) => {
            tracing::info!(operator = %op.session.login, letters = b.accounts.len(), "welcome letters printed");
            let mut res = (StatusCode::OK, b.pdf).into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"welcome-letters.pdf\""),
            );
            res
        }
        Ok(None) => admin_page(
            &op,
            StatusCode::NOT_FOUND,
            "Welcome letters",
            "<p>No letters are waiting to be printed.</p>",
        ),
        Err(e) => failed(&op, "print letters", e),
    }
}

/// `POST /admin/letters/posted`: the ticked letters are in the post. The
/// form repeats `account`, once per ticked letter.
pub(crate) async fn letters_posted(
    State(state): State<Arc<WebState>>,
    SignedInOperator { admin, op }: SignedInOperator,
    body: axum::body::Bytes,
) -> Response {
    let mut csrf = String::new();
    let mut ids = Vec::new();
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "csrf" => csrf = v.into_owned(),
            "account" => match v.parse::<i64>() {
                Ok(id) => ids.push(AccountId(id)),
                Err(_) => {
                    return page(
                        StatusCode::BAD_REQUEST,
                        "Not done",
                        "<p>The form was not right.</p>",
                    );
                }
            },
            _ => {}
        }
    }
    if !same(&csrf, &csrf_of(&op.token)) {
        return crate::layout::forbidden();
    }
    let now = state.clock.now();
    for id in &ids {
        let event = athen_core::account::AccountEvent {
            account_id: *id,
            at: now,
            actor: actor(&op.session),
            event: "welcome-letter-posted".into(),
            detail: "the welcome letter was posted".into(),
        };
        if let Err(e) = admin.store.mark_letter_posted(*id, event).await {
            return failed(&op, "letters posted", e);
        }
    }
    tracing::info!(operator = %op.session.login, letters = ids.len(), "welcome letters marked posted");
    see_other("/admin/letters")
}

/// `GET /admin/log`: every operator action on accounts (confirm,
/// suspend, reinstate, close, new letter, letter posted), from these
/// pages and from the command line, newest first: who, when, what, to
/// which account. Kept with each account's record; never mail content.
pub(crate) async fn log(
    State(_): State<Arc<WebState>>,
    SignedInOperator { admin, op }: SignedInOperator,
) -> Response {
    let admin = &*admin;
    let events = match admin.store.operator_events(500).await {
        Ok(e) => e,
        Err(e) => return failed(&op, "the log", e),
    };
    let rows: String = events
        .iter()
        .map(|(e, address)| {
            let who = e
                .actor
                .strip_prefix("operator:")
                .map(|l| format!("{l} (these pages)"))
                .unwrap_or_else(|| "the command line".into());
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(
                    &rfc3339(e.at)
                        .get(..16)
                        .unwrap_or_default()
                        .replace('T', " ")
                ),
                escape(&who),
                escape(&e.event),
                escape(address),
                escape(&e.detail)
            )
        })
        .collect();
    let body = if rows.is_empty() {
        "<p>No administrator has done anything to an account yet.</p>".to_string()
    } else {
        format!(
            "<table>\n<caption>The newest 500 actions</caption>\n<thead><tr><th scope=\"col\">When (UTC)</th>\
<th scope=\"col\">Who</th><th scope=\"col\">What</th><th scope=\"col\">Account</th><th scope=\"col\">Why / detail</th></tr></thead>\n\
<tbody>\n{rows}</tbody>\n</table>"
        )
    };
    admin_page(&op, StatusCode::OK, "Who did what", &body)
}

/// `GET /admin/queue`: what waits to be sent, without content.
pub(crate) async fn queue(
    State(_): State<Arc<WebState>>,
    SignedInOperator { admin, op }: SignedInOperator,
) -> Response {
    let admin = &*admin;
    let messages = match admin.store.queued_messages().await {
        Ok(m) => m,
        Err(e) => return failed(&op, "queue", e),
    };
    let rows: String = messages
        .iter()
        .flat_map(|m| {
            m.recipients.iter().map(move |r| {
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    m.id.0,
                    escape(&rfc3339(m.created_at)),
                    escape(if m.mail_from.is_empty() { "<> (a report)" } else { &m.mail_from }),
                    escape(&r.address),
                    r.state.as_str(),
                    r.attempts,
                    if r.state == athen_core::queue::RecipientState::Queued {
                        escape(&rfc3339(r.next_attempt_at))
                    } else {
                        String::new()
                    },
                    escape(r.last_reply.as_deref().unwrap_or("not tried yet")),
                )
            })
        })
        .collect();
    let body = if rows.is_empty() {
        "<p>Nothing is waiting to be sent.</p>".to_string()
    } else {
        format!(
            "<p>Only addresses, times and the other servers' replies are shown, never what the letters say.</p>\n\
<table>\n<caption>Outgoing mail</caption>\n<thead><tr><th scope=\"col\">Message</th><th scope=\"col\">Queued (UTC)</th><th scope=\"col\">From</th>\
<th scope=\"col\">To</th><th scope=\"col\">State</th><th scope=\"col\">Attempts</th><th scope=\"col\">Next attempt</th><th scope=\"col\">Last reply</th></tr></thead>\n\
<tbody>\n{rows}</tbody>\n</table>\n<p>To try one again at once: <code>athen admin queue retry ID</code>.</p>"
        )
    };
    admin_page(&op, StatusCode::OK, "Outgoing mail", &body)
}

/// The catch-all's files, newest first: name, size, time.
fn catch_all_files(dir: &std::path::Path) -> std::io::Result<Vec<(String, u64, UnixTime)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let meta = e.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let at = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        out.push((name, meta.len(), at));
    }
    out.sort_by_key(|(n, _, at)| std::cmp::Reverse((*at, n.clone())));
    Ok(out)
}

/// A catch-all file name as listed: no path, nothing hidden.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@+".contains(c))
}

/// `GET /admin/catch-all`: under `localserve`, mail for other domains kept
/// here instead of being sent.
pub(crate) async fn catch_all(
    State(_): State<Arc<WebState>>,
    SignedInOperator { admin, op }: SignedInOperator,
) -> Response {
    let admin = &*admin;
    let Some(dir) = &admin.catch_all else {
        return admin_page(
            &op,
            StatusCode::OK,
            "Catch-all",
            "<p>This server sends mail for other domains to their servers; it keeps no catch-all.</p>",
        );
    };
    let files = match catch_all_files(dir) {
        Ok(f) => f,
        Err(e) => return failed(&op, "catch-all", e),
    };
    let rows: String = files
        .iter()
        .filter(|(n, _, _)| safe_name(n))
        .map(|(n, size, at)| {
            format!(
                "<tr><td><a href=\"/admin/catch-all/{0}\">{0}</a></td><td>{size}</td><td>{1}</td></tr>\n",
                escape(n),
                escape(&rfc3339(*at))
            )
        })
        .collect();
    let body = format!(
        "<p>This is a test server (<code>localserve</code>): mail for other domains is not sent but kept in <code>{}</code>, to be looked at here.</p>\n{}",
        escape(&dir.display().to_string()),
        if rows.is_empty() {
            "<p>Nothing has been kept yet.</p>".to_string()
        } else {
            format!(
                "<table>\n<caption>Kept mail</caption>\n<thead><tr><th scope=\"col\">File</th><th scope=\"col\">Bytes</th><th scope=\"col\">Kept (UTC)</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>"
            )
        }
    );
    admin_page(&op, StatusCode::OK, "Catch-all", &body)
}

/// `GET /admin/catch-all/{name}`: one kept message, as a download.
pub(crate) async fn catch_all_file(
    State(_): State<Arc<WebState>>,
    SignedInOperator { admin, op }: SignedInOperator,
    Path(name): Path<String>,
) -> Response {
    let admin = &*admin;
    let not_found = || {
        admin_page(
            &op,
            StatusCode::NOT_FOUND,
            "Catch-all",
            "<p>There is no such file.</p>",
        )
    };
    let Some(dir) = &admin.catch_all else {
        return not_found();
    };
    if !safe_name(&name) {
        return not_found();
    }
    match std::fs::read(dir.join(&name)) {
        Ok(bytes) => {
            let mut res = (StatusCode::OK, bytes).into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("message/rfc822"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => not_found(),
        Err(e) => failed(&op, "catch-all file", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfirmed_accounts_close_after_flagging_and_grace() {
        let policy = ExpiryPolicy {
            flag_after_days: 21,
            close_after_days: 14,
        };
        let d = 86_400;
        let mut a = Account {
            id: AccountId(1),
            kind: athen_core::account::AccountKind::Individual,
            address: "a@b.test".into(),
            name: "A".into(),
            status: AccountStatus::Provisional,
            mailbox_id: athen_core::MailboxId(1),
            entry_id: athen_core::ids::EntryId(1),
            created_at: 0,
            status_changed_at: 0,
            confirmed_at: None,
            flagged_at: None,
        };
        // New: flagged on day 21, closed 14 days later.
        assert_eq!(closes_on(&a, policy, 0), Some(35 * d));
        // Overdue but not yet flagged (the sweep runs daily): from now.
        assert_eq!(closes_on(&a, policy, 30 * d), Some(44 * d));
        // Flagged on day 22.
        a.flagged_at = Some(22 * d);
        assert_eq!(closes_on(&a, policy, 30 * d), Some(36 * d));
        a.status = AccountStatus::Confirmed;
        assert_eq!(closes_on(&a, policy, 30 * d), None);
    }

    #[test]
    fn only_plain_file_names_are_served() {
        for good in ["1733000000-abc.eml", "jane@example.org.eml", "x+y_z-1.eml"] {
            assert!(safe_name(good), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "../etc/passwd",
            "a/b",
            "a\\b",
            "a b",
            "%2e%2e",
        ] {
            assert!(!safe_name(bad), "{bad}");
        }
    }
}
