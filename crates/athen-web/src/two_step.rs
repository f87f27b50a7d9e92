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
use crate::app::{Caller, MailServices};
use crate::forms::{Field, FormErrors};
use crate::layout::error_page;
use crate::layout::escape;
use crate::session::{SignedIn, SignedInForm};
use athen_vault::VaultError;
use athen_vault::accounts::{self, Holder};
use athen_vault::totp::TotpKey;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;
use zeroize::Zeroize;

/// Whether the caller's login has two-step sign-in on.
async fn is_on(mail: &MailServices, c: &Caller) -> Result<bool, crate::app::ApiError> {
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
    let csrf = crate::layout::csrf_of(&c.token);
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
    crate::forms::form_page(c, "Two-step sign-in", &body, errors)
}

/// `GET /settings/two-step`
pub(crate) async fn show(SignedIn { mail, caller: c }: SignedIn) -> Response {
    let mail = &*mail;
    match is_on(mail, &c).await {
        Ok(on) => settings_page(&c, on, &FormErrors::default(), ""),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct TwoStepForm {
    #[serde(default)]
    pub(crate) csrf: String,
    #[serde(default)]
    pub(crate) current: String,
    /// The new key, sealed (hex), while it is being set up.
    #[serde(default)]
    pub(crate) sealed: String,
    #[serde(default)]
    pub(crate) code: String,
}

impl crate::session::WithCsrf for TwoStepForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
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
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
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

/// The key in groups of four letters, to type into an app by hand.
pub(crate) fn grouped_key(key: &TotpKey) -> String {
    key.base32()
        .as_bytes()
        .chunks(4)
        .map(|g| String::from_utf8_lossy(g).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
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
    let grouped = grouped_key(key);
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
        crate::layout::csrf_of(&c.token),
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
    crate::forms::form_page(c, "Set up two-step sign-in", &body, errors)
}

/// `POST /settings/two-step/start`: after the password, a new key.
pub(crate) async fn start(
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    SignedInForm {
        mail,
        caller: c,
        form: f,
    }: SignedInForm<TwoStepForm>,
) -> Response {
    let mail = &*mail;
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
    SignedInForm {
        mail,
        caller: c,
        form: f,
    }: SignedInForm<TwoStepForm>,
) -> Response {
    let mail = &*mail;
    let Some(key) =
        unhex(&f.sealed).and_then(|s| TotpKey::open(&c.secret, c.session.login_id, &s).ok())
    else {
        return error_page(crate::app::ApiError::new(
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
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    SignedInForm {
        mail,
        caller: c,
        form: f,
    }: SignedInForm<TwoStepForm>,
) -> Response {
    let mail = &*mail;
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
