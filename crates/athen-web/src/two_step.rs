//! Two-step sign-in in the browser: the code page after a right password,
//! and Settings → Two-step sign-in (turning it on with an authenticator
//! app, and off).
//!
//! Between the two steps the half-done sign-in (the mailbox unlocked by
//! the password, not yet usable) waits here in memory for at most five
//! minutes and five codes, under a random token in a `__Host-` cookie;
//! nothing of it goes to the browser. While it is being set up, the new
//! key travels in the form sealed with the mailbox data key, so a session
//! left open cannot be used to put someone else's key on the login
//! (starting asks for the password).

use crate::WebState;
use crate::api::{self, Caller, MailServices};
use crate::forms::{Field, FormErrors, cookie, same, set_cookie};
use crate::mail_pages::{error_page, forbidden, signed_in, signed_in_form};
use crate::pages::{escape, layout};
use athen_core::clock::UnixTime;
use athen_vault::VaultError;
use athen_vault::accounts::{self, Holder};
use athen_vault::auth::HalfSignedIn;
use athen_vault::totp::TotpKey;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use zeroize::Zeroize;

/// The cookie naming a half-done sign-in.
pub(crate) const STEP_COOKIE: &str = "__Host-athen_step";
/// How long the code page waits, and how many codes it takes.
const STEP_SECONDS: i64 = 300;
const STEP_TRIES: u8 = 5;
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
    fn keep(&self, half: HalfSignedIn, tries: u8, now: UnixTime) -> Result<String, VaultError> {
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
    fn take(&self, token: &str, now: UnixTime) -> Option<(HalfSignedIn, u8)> {
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

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// `POST /login/code`: the second step.
pub(crate) async fn submit_code(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<api::PeerAddr>>,
    Form(f): Form<CodeForm>,
) -> Response {
    let Some(expected) = cookie(&headers, crate::mail_pages::LOGIN_CSRF_COOKIE) else {
        return forbidden();
    };
    if f.csrf.is_empty() || !same(&f.csrf, &expected) {
        return forbidden();
    }
    let mail = match api::services(&state) {
        Ok(m) => m,
        Err(e) => return error_page(e),
    };
    let now = state.clock.now();
    let waiting = cookie(&headers, STEP_COOKIE).and_then(|t| mail.half_signed_in.take(&t, now));
    let Some((half, tries)) = waiting else {
        return crate::mail_pages::login_again(
            &expected,
            "",
            StatusCode::UNAUTHORIZED,
            "That took too long, or the code page was already used. Please sign in again.",
        );
    };
    let source = peer.map(|p| p.0.0.ip());
    match mail.authenticator.second_step(half, &f.code, source).await {
        Ok(unlocked) => crate::mail_pages::start_session(mail, unlocked, source),
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
            (VaultError::BadCode, _) => crate::mail_pages::login_again(
                &expected,
                "",
                StatusCode::UNAUTHORIZED,
                "Too many codes that were not right. Please sign in again.",
            ),
            (e, _) => crate::mail_pages::sign_in_problem(&expected, "", e),
        },
    }
}

/// Whether the caller's login has two-step sign-in on.
async fn is_on(mail: &MailServices, c: &Caller) -> Result<bool, api::ApiError> {
    Ok(mail
        .store
        .totp(c.session.login_id)
        .await
        .map_err(athen_mail::MailError::Store)?
        .is_some())
}

fn holder(c: &Caller) -> Holder<'_> {
    Holder {
        login: c.session.login_id,
        secret: &c.secret,
    }
}

/// The settings page: on or off, and the form to change that.
fn settings_page(c: &Caller, on: bool, errors: &FormErrors, shown: &str) -> Response {
    let csrf = crate::mail_pages::csrf_of(&c.token);
    let password = Field::password(
        "current",
        "Your current password",
        "Current password",
        "current-password",
    )
    .render("", errors);
    let form = if on {
        format!(
            "<p><strong>Two-step sign-in is on</strong> for {}: signing in takes the password and the code from the authenticator app.</p>\n\
<form method=\"post\" action=\"/settings/two-step/off\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{password}{code}\
<button type=\"submit\" class=\"danger\">Turn two-step sign-in off</button>\n</form>\n\
<p>A new phone? Turn it off with a code from the old one, then on again and scan the new code with the new phone. \
Phone lost? Ask your ATHEN administrator to turn it off for your login.</p>",
            escape(&c.session.login_name),
            code = if c.session.kind == athen_core::account::CredentialKind::RecoveryCode {
                String::new()
            } else {
                Field::text(
                    "code",
                    "Code from your authenticator app",
                    "Code from your authenticator app",
                    true,
                    "six digits",
                    "one-time-code",
                )
                .render("", errors)
            }
        )
    } else {
        format!(
            "<p>Two-step sign-in is <strong>off</strong> for {}. With it on, signing in in the browser also takes a six-digit code \
from an authenticator app on your phone (such as Google Authenticator, Microsoft Authenticator or FreeOTP), so a stolen password \
alone does not open your mail.</p>\n\
<form method=\"post\" action=\"/settings/two-step/start\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{password}\
<button type=\"submit\">Set up two-step sign-in</button>\n</form>",
            escape(&c.session.login_name)
        )
    };
    let body = format!(
        "<h1>Two-step sign-in</h1>\n{}{shown}{form}\n\
<p>Mail programs and the downloader do not ask for codes: they sign in with app tokens (Settings → Sign-in and app tokens). \
With two-step sign-in on, the password alone no longer works in them.</p>\n<p><a href=\"/settings\">Back to Settings</a></p>",
        errors.summary()
    );
    crate::mail_pages::form_page(c, "Two-step sign-in", &body, errors)
}

/// `GET /settings/two-step`
pub(crate) async fn show(State(state): State<Arc<WebState>>, headers: HeaderMap) -> Response {
    let (mail, c) = match signed_in(&state, &headers).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    match is_on(mail, &c).await {
        Ok(on) => settings_page(&c, on, &FormErrors::default(), ""),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct TwoStepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    /// The new key, sealed (hex), while it is being set up.
    #[serde(default)]
    sealed: String,
    #[serde(default)]
    code: String,
}

impl Drop for TwoStepForm {
    fn drop(&mut self) {
        self.current.zeroize();
    }
}

/// The password checked again; the settings page with the problem if not.
async fn password_again(
    mail: &MailServices,
    c: &Caller,
    (password, code): (&str, &str),
    peer: Option<axum::Extension<api::PeerAddr>>,
    on: bool,
) -> Result<(), Response> {
    match crate::security::password_is_right(mail, c, password, code, peer, "Current password")
        .await
    {
        Ok(()) => Ok(()),
        Err(errors) => Err(settings_page(c, on, &errors, "")),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The QR code of the key's `otpauth://` address, as inline SVG.
pub(crate) fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    let at = svg.find("<svg")?;
    Some(svg[at..].replacen(
        "<svg",
        "<svg role=\"img\" aria-label=\"QR code to scan with your authenticator app\"",
        1,
    ))
}

/// The set-up page: the QR code, the key to type instead, and the box for
/// the first code.
fn setup_page(c: &Caller, key: &TotpKey, errors: &FormErrors) -> Response {
    let sealed = match key.seal(&c.secret, c.session.login_id) {
        Ok(s) => hex(&s),
        Err(e) => return error_page(athen_mail::MailError::Vault(e).into()),
    };
    let uri = key.otpauth_uri(&format!("ATHEN {}", c.account.name), &c.session.login_name);
    let base32 = key.base32();
    let grouped: String = base32
        .as_bytes()
        .chunks(4)
        .map(|g| String::from_utf8_lossy(g).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let body = format!(
        "<h1>Set up two-step sign-in</h1>\n{}<ol>\n<li>Open the authenticator app on your phone and add an account by scanning this code:\
<div class=\"qr\">{}</div></li>\n<li>Cannot scan? Choose to enter a key instead and type: <p class=\"code\">{}</p>(time-based, 6 digits)</li>\n\
<li>Enter the six-digit code the app now shows for ATHEN:</li>\n</ol>\n\
<form method=\"post\" action=\"/settings/two-step/on\">\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
<input type=\"hidden\" name=\"sealed\" value=\"{sealed}\">\n{}\
<button type=\"submit\">Turn two-step sign-in on</button>\n</form>\n<p><a href=\"/settings/two-step\">Cancel</a></p>",
        errors.summary(),
        qr_svg(&uri).unwrap_or_default(),
        escape(&grouped),
        crate::mail_pages::csrf_of(&c.token),
        Field::text(
            "code",
            "Code from your app",
            "Code",
            true,
            "",
            "one-time-code"
        )
        .render("", errors),
    );
    crate::mail_pages::form_page(c, "Set up two-step sign-in", &body, errors)
}

/// `POST /settings/two-step/start`: after the password, a new key.
pub(crate) async fn start(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<api::PeerAddr>>,
    Form(f): Form<TwoStepForm>,
) -> Response {
    let (mail, c) = match signed_in_form(&state, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    if let Err(res) = password_again(mail, &c, (&f.current, ""), peer, false).await {
        return res;
    }
    match TotpKey::generate() {
        Ok(key) => setup_page(&c, &key, &FormErrors::default()),
        Err(e) => error_page(athen_mail::MailError::Vault(e).into()),
    }
}

/// `POST /settings/two-step/on`: the first code proves the app has the key.
pub(crate) async fn turn_on(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Form(f): Form<TwoStepForm>,
) -> Response {
    let (mail, c) = match signed_in_form(&state, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let Some(key) =
        unhex(&f.sealed).and_then(|s| TotpKey::open(&c.secret, c.session.login_id, &s).ok())
    else {
        return error_page(api::ApiError::new(
            StatusCode::BAD_REQUEST,
            "the set-up form was changed or is from another login; please start again",
        ));
    };
    let done = accounts::enable_two_step(
        mail.store.as_ref(),
        state.clock.as_ref(),
        holder(&c),
        c.session.mailbox_id,
        &key,
        &f.code,
    )
    .await;
    match done {
        Ok(()) => {
            tracing::info!(login = %c.session.login_name, "two-step sign-in turned on");
            settings_page(
                &c,
                true,
                &FormErrors::default(),
                "<p role=\"status\" class=\"done\">Two-step sign-in is on. Next time you sign in, have your phone ready.</p>\n",
            )
        }
        Err(VaultError::BadCode) => {
            let mut errors = FormErrors::default();
            errors.add(
                "Code",
                "is not the one the app shows now; check the phone's clock is right and try the next code",
            );
            setup_page(&c, &key, &errors)
        }
        Err(e) => error_page(athen_mail::MailError::Vault(e).into()),
    }
}

/// `POST /settings/two-step/off`: after the password.
pub(crate) async fn turn_off(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<api::PeerAddr>>,
    Form(f): Form<TwoStepForm>,
) -> Response {
    let (mail, c) = match signed_in_form(&state, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    if let Err(res) = password_again(mail, &c, (&f.current, &f.code), peer, true).await {
        return res;
    }
    match accounts::disable_two_step(mail.store.as_ref(), holder(&c)).await {
        Ok(()) => {
            tracing::info!(login = %c.session.login_name, "two-step sign-in turned off");
            settings_page(
                &c,
                false,
                &FormErrors::default(),
                "<p role=\"status\" class=\"done\">Two-step sign-in is off: the password alone signs in.</p>\n",
            )
        }
        Err(e) => error_page(athen_mail::MailError::Vault(e).into()),
    }
}
