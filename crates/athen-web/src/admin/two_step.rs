//! Two-step sign-in for administrators (issue 20): after the password, a
//! one-time code from an authenticator app (RFC 6238), as practices have.
//! An administrator confirms, suspends and closes accounts and posts the
//! codes that confirm them; a password alone should not be enough.
//!
//! The key is sealed with the server's key (administrators have no
//! mailbox), so the database alone does not give it away; each code is
//! accepted once. A lost phone: another administrator or the command line
//! (`athen admin operator two-step-off LOGIN`) turns it off.

use super::{
    ADMIN_LOGIN_COOKIE, AdminServices, Operator, OperatorForm, SignedInOperator, admin_page,
    failed, page, services, start_session,
};
use crate::WebState;
use crate::forms::{cookie, set_cookie};
use crate::layout::{escape, layout};
use crate::two_step::TwoStepForm;
use athen_core::clock::UnixTime;
use athen_vault::auth::{Attempt, Outcome};
use athen_vault::codes;
use athen_vault::totp::TotpKey;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The cookie that carries a half-finished sign-in to its code page.
pub(crate) const STEP_COOKIE: &str = "__Host-athen_admin_step";
/// How long the code page waits, and how many wrong codes it takes.
const STEP_SECONDS: i64 = 5 * 60;
const STEP_TRIES: u32 = 5;

/// A sign-in whose password was right and whose code is to come.
pub(crate) struct Pending {
    op: athen_core::account::Operator,
    key: TotpKey,
    started: UnixTime,
    tries: u32,
}

fn step_key(token: &str) -> [u8; 32] {
    Sha256::digest(format!("athen admin step v1:{token}").as_bytes()).into()
}

fn code_form(csrf: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    layout(
        "Administrator sign-in",
        &format!(
            "<h1>Enter your code</h1>\n{error}<p>Open the authenticator app on your phone and type the six-digit code it shows for ATHEN.</p>\n\
<form method=\"post\" action=\"/admin/login/code\">\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
<label for=\"code\">Code</label><input id=\"code\" name=\"code\" required inputmode=\"numeric\" autocomplete=\"one-time-code\">\n\
<button type=\"submit\">Sign in</button>\n</form>",
            escape(csrf)
        ),
    )
}

/// After a right password: the code page, with the half sign-in kept
/// for it.
pub(crate) fn ask_for_code(
    admin: &AdminServices,
    csrf: &str,
    op: athen_core::account::Operator,
    key: TotpKey,
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
    {
        let mut pending = admin.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, p| now - p.started < STEP_SECONDS);
        pending.insert(
            step_key(&token),
            Pending {
                op,
                key,
                started: now,
                tries: 0,
            },
        );
    }
    let mut res = Html(code_form(csrf, None)).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(STEP_COOKIE, &token, Some(STEP_SECONDS)),
    );
    res
}

/// `POST /admin/login/code`: the second step.
pub(crate) async fn submit_code(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    Form(f): Form<crate::sign_in::CodeForm>,
) -> Response {
    let admin = match services(&state).await {
        Ok(a) => a,
        Err(res) => return res,
    };
    let Some(expected) = crate::forms::sign_in_form_token(&headers, ADMIN_LOGIN_COOKIE, &f.csrf)
    else {
        return crate::layout::forbidden();
    };
    let now = state.clock.now();
    let again = |status, msg: &str| (status, Html(code_form(&expected, Some(msg)))).into_response();
    let waiting = cookie(&headers, STEP_COOKIE).and_then(|t| {
        let key = step_key(&t);
        admin
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key)
            .filter(|p| now - p.started < STEP_SECONDS)
            .map(|p| (key, p))
    });
    let Some((key, mut half)) = waiting else {
        return (
            StatusCode::UNAUTHORIZED,
            Html(super::login_form(
                &expected,
                Some(
                    "That took too long, or the code page was already used. Please sign in again.",
                ),
            )),
        )
            .into_response();
    };
    let source = peer.map(|p| p.0.0.ip());
    let reserved = match admin
        .throttle
        .reserve(
            &half.op.login,
            source,
            Attempt::Password,
            state.clock.as_ref(),
        )
        .await
    {
        Ok(r) => r,
        Err(_) => {
            return again(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts that did not work. Please wait and sign in again.",
            );
        }
    };
    let fresh = match half.key.check(&f.code, now) {
        None => Ok(false),
        Some(step) => admin.store.use_operator_totp_step(half.op.id, step).await,
    };
    match fresh {
        Ok(true) => {
            admin.throttle.settle(reserved, Outcome::SignedIn);
            start_session(admin, &half.op, now)
        }
        Ok(false) => {
            admin.throttle.settle(reserved, Outcome::Failed);
            tracing::info!(login = %half.op.login, source = ?source, "failed operator second step");
            half.tries += 1;
            if half.tries < STEP_TRIES {
                admin
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, half);
            }
            again(
                StatusCode::UNAUTHORIZED,
                "The code is not right, or was used already. Wait for the next one and try again.",
            )
        }
        Err(e) => {
            admin.throttle.settle(reserved, Outcome::NotCounted);
            tracing::error!(error = %e, "operator second step failed");
            again(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server could not check the code.",
            )
        }
    }
}

fn password_field() -> &'static str {
    "<label for=\"current\">Your password</label><input id=\"current\" name=\"current\" type=\"password\" required autocomplete=\"current-password\">\n"
}

fn code_field() -> &'static str {
    "<label for=\"code\">Code from your authenticator app</label><input id=\"code\" name=\"code\" required inputmode=\"numeric\" autocomplete=\"one-time-code\">\n"
}

fn settings_page(op: &Operator, on: bool, status: StatusCode, message: &str) -> Response {
    let csrf = super::csrf_of(&op.token);
    let form = if on {
        format!(
            "<p><strong>Two-step sign-in is on</strong> for {}.</p>\n\
<form method=\"post\" action=\"/admin/two-step/off\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{}{}\
<button type=\"submit\" class=\"danger\">Turn two-step sign-in off</button>\n</form>",
            escape(&op.session.login),
            password_field(),
            code_field()
        )
    } else {
        format!(
            "<p>Two-step sign-in is <strong>off</strong> for {}. With it on, signing in here also takes a six-digit \
code from an authenticator app on your phone, so a stolen password alone does not open these pages.</p>\n\
<form method=\"post\" action=\"/admin/two-step/start\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{}\
<button type=\"submit\">Set up two-step sign-in</button>\n</form>",
            escape(&op.session.login),
            password_field()
        )
    };
    admin_page(op, status, "Two-step sign-in", &format!("{message}{form}"))
}

/// The operator's own record, for their password and key.
async fn record(
    admin: &AdminServices,
    op: &Operator,
) -> Result<athen_core::account::Operator, Response> {
    match admin.store.operator_by_login(&op.session.login).await {
        Ok(Some(r)) if r.id == op.session.id => Ok(r),
        Ok(_) => Err(failed(op, "two-step sign-in", "the administrator is gone")),
        Err(e) => Err(failed(op, "two-step sign-in", e)),
    }
}

/// The password checked again, counted like a sign-in.
async fn password_is_right(
    state: &WebState,
    admin: &AdminServices,
    me: &athen_core::account::Operator,
    password: &str,
) -> bool {
    let Ok(reserved) = admin
        .throttle
        .reserve(&me.login, None, Attempt::Password, state.clock.as_ref())
        .await
    else {
        return false;
    };
    let verifier = me.verifier.clone();
    let password = zeroize::Zeroizing::new(password.as_bytes().to_vec());
    let right = athen_vault::auth::kdf_work(move || codes::verify_password(&verifier, &password))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(false);
    admin.throttle.settle(
        reserved,
        if right {
            Outcome::NotCounted
        } else {
            Outcome::Failed
        },
    );
    right
}

fn problem(text: &str) -> String {
    format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(text))
}

/// `GET /admin/two-step`
pub(crate) async fn show(SignedInOperator { admin, op }: SignedInOperator) -> Response {
    let admin = &*admin;
    match record(admin, &op).await {
        Ok(me) => settings_page(&op, me.totp_sealed.is_some(), StatusCode::OK, ""),
        Err(res) => res,
    }
}

/// `POST /admin/two-step/start`: after the password, a new key to scan.
pub(crate) async fn start(
    State(state): State<Arc<WebState>>,
    OperatorForm { admin, op, form: f }: OperatorForm<TwoStepForm>,
) -> Response {
    let admin = &*admin;
    let me = match record(admin, &op).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    if !password_is_right(&state, admin, &me, &f.current).await {
        return settings_page(
            &op,
            me.totp_sealed.is_some(),
            StatusCode::UNPROCESSABLE_ENTITY,
            &problem("Your password is not right."),
        );
    }
    let key = match TotpKey::generate() {
        Ok(k) => k,
        Err(e) => return failed(&op, "two-step sign-in", e),
    };
    setup_page(admin, &op, &key, StatusCode::OK, "")
}

fn setup_page(
    admin: &AdminServices,
    op: &Operator,
    key: &TotpKey,
    status: StatusCode,
    message: &str,
) -> Response {
    let sealed = match key.seal_for_operator(&admin.letters_key, op.session.id) {
        Ok(s) => crate::two_step::hex(&s),
        Err(e) => return failed(op, "two-step sign-in", e),
    };
    let uri = key.otpauth_uri("ATHEN administrator", &op.session.login);
    let grouped = crate::two_step::grouped_key(key);
    let csrf = super::csrf_of(&op.token);
    let body = format!(
        "{message}<ol>\n<li>Open an authenticator app on your phone and add an account by scanning this code:</li>\n</ol>\n{}\n\
<p>Or type this key:</p>\n<p class=\"code\">{}</p>\n\
<form method=\"post\" action=\"/admin/two-step/on\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
<input type=\"hidden\" name=\"sealed\" value=\"{sealed}\">\n{}\
<button type=\"submit\">Turn two-step sign-in on</button>\n</form>",
        crate::two_step::qr_svg(&uri).unwrap_or_default(),
        escape(&grouped),
        code_field()
    );
    admin_page(op, status, "Set up two-step sign-in", &body)
}

/// `POST /admin/two-step/on`: the first code proves the phone has the key.
pub(crate) async fn turn_on(
    State(state): State<Arc<WebState>>,
    OperatorForm { admin, op, form: f }: OperatorForm<TwoStepForm>,
) -> Response {
    let admin = &*admin;
    let Some(sealed) = crate::two_step::unhex(&f.sealed) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Not done",
            "<p>The form was not right.</p>",
        );
    };
    let key = match TotpKey::open_for_operator(&admin.letters_key, op.session.id, &sealed) {
        Ok(k) => k,
        Err(_) => {
            return page(
                StatusCode::BAD_REQUEST,
                "Not done",
                "<p>The form was not right.</p>",
            );
        }
    };
    let now = state.clock.now();
    let Some(step) = key.check(&f.code, now) else {
        return setup_page(
            admin,
            &op,
            &key,
            StatusCode::UNPROCESSABLE_ENTITY,
            &problem("The code is not right. Type the code the app shows now."),
        );
    };
    let done = async {
        admin
            .store
            .set_operator_totp(op.session.id, Some(sealed))
            .await?;
        admin
            .store
            .use_operator_totp_step(op.session.id, step)
            .await
    }
    .await;
    match done {
        Ok(_) => {
            tracing::info!(operator = %op.session.login, "operator two-step sign-in turned on");
            settings_page(
                &op,
                true,
                StatusCode::OK,
                "<p role=\"status\" class=\"done\">Two-step sign-in is on: from now on signing in here takes the code too.</p>\n",
            )
        }
        Err(e) => failed(&op, "two-step sign-in", e),
    }
}

/// `POST /admin/two-step/off`: the password and a code.
pub(crate) async fn turn_off(
    State(state): State<Arc<WebState>>,
    OperatorForm { admin, op, form: f }: OperatorForm<TwoStepForm>,
) -> Response {
    let admin = &*admin;
    let me = match record(admin, &op).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    let Some(sealed) = &me.totp_sealed else {
        return settings_page(&op, false, StatusCode::OK, "");
    };
    let refuse =
        |why: &str| settings_page(&op, true, StatusCode::UNPROCESSABLE_ENTITY, &problem(why));
    if !password_is_right(&state, admin, &me, &f.current).await {
        return refuse("Your password is not right.");
    }
    let key = match TotpKey::open_for_operator(&admin.letters_key, me.id, sealed) {
        Ok(k) => k,
        Err(e) => return failed(&op, "two-step sign-in", e),
    };
    let fresh = match key.check(&f.code, state.clock.now()) {
        None => Ok(false),
        Some(step) => admin.store.use_operator_totp_step(me.id, step).await,
    };
    match fresh {
        Ok(true) => {}
        Ok(false) => return refuse("The code is not right, or was used already."),
        Err(e) => return failed(&op, "two-step sign-in", e),
    }
    match admin.store.set_operator_totp(me.id, None).await {
        Ok(()) => {
            tracing::info!(operator = %op.session.login, "operator two-step sign-in turned off");
            settings_page(
                &op,
                false,
                StatusCode::OK,
                "<p role=\"status\" class=\"done\">Two-step sign-in is off: the password alone signs in.</p>\n",
            )
        }
        Err(e) => failed(&op, "two-step sign-in", e),
    }
}
