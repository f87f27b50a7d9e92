//! Signing in and out of the web app: the password, then (for a login
//! with two-step sign-in) the one-time code, then a new session in a
//! `__Host-` cookie; and signing out. Before sign-in every form carries a
//! random CSRF token also set as a cookie (double submit).

use crate::WebState;
use crate::app::{MailServices, STEP_SECONDS, STEP_TRIES};
use crate::forms::{cookie, set_cookie};
use crate::layout::{error_page, escape, layout, see_other};
use crate::session::{CsrfForm, SESSION_COOKIE, SignedInForm, signed_in};
use athen_core::clock::UnixTime;
use athen_vault::VaultError;
use athen_vault::auth::{FirstStep, HalfSignedIn};
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

pub(crate) const LOGIN_CSRF_COOKIE: &str = "__Host-athen_login";

/// The cookie naming a half-done sign-in.
pub(crate) const STEP_COOKIE: &str = "__Host-athen_step";
fn login_form(csrf: &str, login: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    layout(
        "Sign in",
        &format!(
            "<h1>Sign in</h1>\n{error}<form method=\"post\" action=\"/login\">\n\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
<label for=\"login\">Your ATHEN address or staff login</label>\
<input id=\"login\" name=\"login\" required value=\"{}\" autocomplete=\"username\">\n\
<label for=\"password\">Password</label>\
<input id=\"password\" name=\"password\" type=\"password\" required autocomplete=\"current-password\">\n\
<button type=\"submit\">Sign in</button>\n</form>",
            escape(csrf),
            escape(login)
        ),
    )
}

/// `GET /login`
pub(crate) async fn login_page(State(state): State<Arc<WebState>>, headers: HeaderMap) -> Response {
    if signed_in(&state, &headers).await.is_ok() {
        return see_other("/mail/Inbox");
    }
    crate::forms::page_with_form_token(LOGIN_CSRF_COOKIE, |csrf| login_form(csrf, "", None))
}

/// A sign-in form (the practices' and the administrator's).
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    pub(crate) csrf: String,
    #[serde(default)]
    pub(crate) login: String,
    #[serde(default)]
    pub(crate) password: String,
}

impl Drop for LoginForm {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

/// `POST /login`: a new session (never an old one reused), then the inbox.
pub(crate) async fn login_submit(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    Form(f): Form<LoginForm>,
) -> Response {
    let Some(expected) = crate::forms::sign_in_form_token(&headers, LOGIN_CSRF_COOKIE, &f.csrf)
    else {
        return crate::layout::forbidden();
    };
    let mail = match crate::app::services(&state) {
        Ok(m) => m,
        Err(e) => return error_page(e),
    };
    let first = mail
        .authenticator
        .sign_in(&f.login, &f.password, peer.map(|p| p.0.0.ip()))
        .await;
    match first {
        Ok(FirstStep::Done(unlocked)) => start_session(mail, unlocked, peer.map(|p| p.0.0.ip())),
        Ok(FirstStep::CodeNeeded(half)) => ask_for_code(mail, &expected, half, state.clock.now()),
        Err(e) => sign_in_problem(&expected, f.login.trim(), e),
    }
}

/// The sign-in page again, with a message (the CSRF cookie stays).
pub(crate) fn login_again(csrf: &str, login: &str, status: StatusCode, msg: &str) -> Response {
    (status, Html(login_form(csrf, login, Some(msg)))).into_response()
}

/// The sign-in page saying why a sign-in did not work.
pub(crate) fn sign_in_problem(csrf: &str, login: &str, e: VaultError) -> Response {
    match e {
        e @ VaultError::BadCredential => {
            login_again(csrf, login, StatusCode::UNAUTHORIZED, &e.to_string())
        }
        VaultError::Throttled { retry_after_secs } => login_again(
            csrf,
            login,
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many attempts that did not work. Please wait {} minute(s) and try again.",
                retry_after_secs.div_ceil(60)
            ),
        ),
        e @ VaultError::AccountNotActive(_) => {
            login_again(csrf, login, StatusCode::FORBIDDEN, &e.to_string())
        }
        VaultError::NotThisDoor(_) => login_again(
            csrf,
            login,
            StatusCode::UNAUTHORIZED,
            "An app token is for mail programs and the downloader. Sign in here with your password.",
        ),
        e => {
            tracing::error!(error = %e, "web sign-in failed");
            login_again(
                csrf,
                login,
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server could not sign you in. Please try again.",
            )
        }
    }
}

/// A new session for a completed sign-in (never an old one reused), its
/// mailbox opened for new mail, and the Inbox.
pub(crate) fn start_session(
    mail: &MailServices,
    unlocked: athen_vault::auth::Unlocked,
    source: Option<std::net::IpAddr>,
) -> Response {
    let account = unlocked.account.clone();
    let token = match mail
        .sessions
        .open(unlocked, athen_vault::sessions::Via::Web, source)
    {
        Ok(t) => t,
        Err(e) => return error_page(athen_mail::MailError::Vault(e).into()),
    };
    if let Some(secret) = mail.sessions.unlocked(account.mailbox_id) {
        mail.live.opened(&account, &secret);
    }
    let mut res = see_other("/mail/Inbox");
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &token, None));
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF_COOKIE, "", Some(0)),
    );
    h.append(header::SET_COOKIE, set_cookie(STEP_COOKIE, "", Some(0)));
    res
}

/// `POST /logout`: ends the session; the mailbox locks when it was the last.
pub(crate) async fn logout(
    SignedInForm {
        mail,
        caller: c,
        form: _,
    }: SignedInForm<CsrfForm>,
) -> Response {
    let mail = &*mail;
    crate::session::end_session(mail, c);
    let mut res = see_other("/login");
    res.headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0)));
    res
}

fn code_form(csrf: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    layout(
        "Enter your code",
        &format!(
            "<h1>Enter your code</h1>\n{error}<p>Open the authenticator app on your phone and enter the six-digit code it shows for ATHEN.</p>\n\
<form method=\"post\" action=\"/login/code\">\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
<label for=\"code\">Code from your app</label>\
<input id=\"code\" name=\"code\" required inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9 ]{{6,7}}\" maxlength=\"7\">\n\
<button type=\"submit\">Sign in</button>\n</form>\n\
<p>Lost your phone? Ask your ATHEN administrator to turn two-step sign-in off for your login; they will check it is you.</p>",
            escape(csrf)
        ),
    )
}

/// After a right password for a login with two-step sign-in: the half
/// sign-in kept, and the page asking for the code.
pub(crate) fn ask_for_code(
    mail: &MailServices,
    csrf: &str,
    half: HalfSignedIn,
    now: UnixTime,
) -> Response {
    match mail.half_signed_in.keep(half, 0, now) {
        Ok(token) => code_page(csrf, &token, StatusCode::OK, None),
        Err(e) => error_page(athen_mail::MailError::Vault(e).into()),
    }
}

fn code_page(csrf: &str, token: &str, status: StatusCode, error: Option<&str>) -> Response {
    let mut res = (status, Html(code_form(csrf, error))).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(STEP_COOKIE, token, Some(STEP_SECONDS)),
    );
    res
}

/// The code page's form (practices' and administrators').
#[derive(Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    pub(crate) csrf: String,
    #[serde(default)]
    pub(crate) code: String,
}

/// `POST /login/code`: the second step.
pub(crate) async fn submit_code(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    Form(f): Form<CodeForm>,
) -> Response {
    let Some(expected) = crate::forms::sign_in_form_token(&headers, LOGIN_CSRF_COOKIE, &f.csrf)
    else {
        return crate::layout::forbidden();
    };
    let mail = match crate::app::services(&state) {
        Ok(m) => m,
        Err(e) => return error_page(e),
    };
    let now = state.clock.now();
    let waiting = cookie(&headers, STEP_COOKIE).and_then(|t| mail.half_signed_in.take(&t, now));
    let Some((half, tries)) = waiting else {
        return login_again(
            &expected,
            "",
            StatusCode::UNAUTHORIZED,
            "That took too long, or the code page was already used. Please sign in again.",
        );
    };
    let source = peer.map(|p| p.0.0.ip());
    match mail.authenticator.second_step(half, &f.code, source).await {
        Ok(unlocked) => start_session(mail, unlocked, source),
        Err(failed) => match (failed.error, failed.again) {
            (e @ VaultError::BadCode, Some(half)) if tries + 1 < STEP_TRIES => {
                match mail.half_signed_in.keep(half, tries + 1, now) {
                    Ok(token) => code_page(
                        &expected,
                        &token,
                        StatusCode::UNAUTHORIZED,
                        Some(&e.to_string()),
                    ),
                    Err(e) => error_page(athen_mail::MailError::Vault(e).into()),
                }
            }
            (VaultError::BadCode, _) => login_again(
                &expected,
                "",
                StatusCode::UNAUTHORIZED,
                "Too many codes that were not right. Please sign in again.",
            ),
            (e, _) => sign_in_problem(&expected, "", e),
        },
    }
}
