//! Settings → Sign-in and app tokens: the signed-in login's own password,
//! recovery code and app tokens (for the downloader and mail programs).
//!
//! Whatever makes a new credential asks for the current password again
//! (a session left open on a shared computer must not be enough to take
//! the mailbox away), and goes through the sign-in throttle. New secrets
//! are shown once. A token is revoked only by the login it belongs to.

use crate::WebState;
use crate::api::{self, ApiError, Caller, MailServices};
use crate::forms::{Field, FormErrors};
use crate::mail_pages::{CsrfForm, error_page, signed_in, signed_in_form};
use crate::pages::escape;
use athen_core::CredentialId;
use athen_core::account::CredentialKind;
use athen_core::clock::rfc3339;
use athen_vault::VaultError;
use athen_vault::accounts::Holder;
use athen_vault::accounts::{self, AccountError};
use athen_vault::auth::FirstStep;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;
use zeroize::Zeroize;

async fn page(mail: &MailServices, c: &Caller, errors: &FormErrors, shown: &str) -> Response {
    let tokens = match mail.store.live_credentials(c.session.login_id).await {
        Ok(list) => list,
        Err(e) => return error_page(athen_mail::MailError::Store(e).into()),
    };
    let csrf = crate::mail_pages::csrf_of(&c.token);
    let rows: String = tokens
        .iter()
        .filter(|t| t.kind == CredentialKind::AppToken)
        .map(|t| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/settings/tokens/{}/revoke\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\" class=\"danger\">Revoke</button></form></td></tr>\n",
                escape(&t.label),
                escape(rfc3339(t.created_at).get(..10).unwrap_or_default()),
                t.last_used_at
                    .map(|u| escape(rfc3339(u).get(..16).unwrap_or_default()))
                    .unwrap_or_else(|| "never".into()),
                t.id.0,
            )
        })
        .collect();
    let table = if rows.is_empty() {
        "<p>No app tokens yet.</p>".to_string()
    } else {
        format!(
            "<table>\n<caption>App tokens of {}</caption>\n<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Made</th>\
<th scope=\"col\">Last used (UTC)</th><th scope=\"col\">Action</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>",
            escape(&c.session.login_name)
        )
    };
    let current = |id: &str| {
        Field::password(
            if id == "current" {
                "current"
            } else {
                "current_again"
            },
            "Your current password",
            "Current password",
            "current-password",
        )
        .render("", errors)
    };
    let body = format!(
        "<h1>Sign-in and app tokens</h1>\n{}{shown}\
<p>These are for <strong>{}</strong> only; every staff login has its own.</p>\n\
<h2>Change your password</h2>\n\
<form method=\"post\" action=\"/settings/password\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{}{}{}\
<button type=\"submit\">Change password</button>\n</form>\n\
<h2>App tokens</h2>\n<p>The downloader and mail programs (Outlook, Thunderbird, a phone) sign in with an app token \
instead of your password. Give each its own, named after where it runs, and revoke it when that computer goes.</p>\n{table}\n\
<form method=\"post\" action=\"/settings/tokens\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{}{}\
<button type=\"submit\">Make a new app token</button>\n</form>\n\
<h2>Recovery code</h2>\n<p>The recovery code gets you back in if the password is lost. Make a new one if the old one \
may have been seen or is lost; the old one then stops working.</p>\n\
<form method=\"post\" action=\"/settings/recovery-code\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{}\
<button type=\"submit\">Make a new recovery code</button>\n</form>\n<p><a href=\"/settings\">Back to Settings</a></p>",
        errors.summary(),
        escape(&c.session.login_name),
        current("current"),
        Field::password(
            "new_password",
            "New password (at least 10 characters)",
            "New password",
            "new-password"
        )
        .render("", errors),
        Field::password(
            "new_again",
            "The new password again",
            "New password again",
            "new-password"
        )
        .render("", errors),
        Field::text(
            "label",
            "Name of the new token",
            "Token name",
            true,
            "e.g. Downloader at front desk",
            "off"
        )
        .render("", errors),
        current("token"),
        Field::password(
            "recovery_current",
            "Your current password",
            "Current password (recovery code)",
            "current-password"
        )
        .render("", errors),
    );
    crate::mail_pages::form_page(c, "Sign-in and app tokens", &body, errors)
}

/// `GET /settings/security`
pub(crate) async fn show(State(state): State<Arc<WebState>>, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers).await {
        Ok((mail, c)) => page(mail, &c, &FormErrors::default(), "").await,
        Err(res) => res,
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct SecurityForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    current_again: String,
    #[serde(default)]
    recovery_current: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_again: String,
    #[serde(default)]
    label: String,
}

impl Drop for SecurityForm {
    fn drop(&mut self) {
        for s in [
            &mut self.current,
            &mut self.current_again,
            &mut self.recovery_current,
            &mut self.new_password,
            &mut self.new_again,
        ] {
            s.zeroize();
        }
    }
}

/// Checks the signed-in login's password again (throttled like sign-in;
/// a login with two-step sign-in needs no code here, its session had
/// one); the problem under `field` if it is not right.
pub(crate) async fn password_is_right(
    mail: &MailServices,
    c: &Caller,
    password: &str,
    peer: Option<axum::Extension<api::PeerAddr>>,
    field: &str,
) -> Result<(), FormErrors> {
    let mut errors = FormErrors::default();
    let peer = peer.map(|p| p.0.0.ip());
    let first = mail
        .authenticator
        .unlock_first_step(&c.session.login_name, password, peer)
        .await;
    let mailbox = match &first {
        Ok(FirstStep::Done(u)) => Some(u.account.mailbox_id),
        Ok(FirstStep::CodeNeeded(half)) => Some(half.mailbox()),
        Err(_) => None,
    };
    match first {
        Ok(_) if mailbox == Some(c.session.mailbox_id) => return Ok(()),
        Ok(_) | Err(VaultError::BadCredential) => errors.add(field, "is not right"),
        Err(VaultError::Throttled { retry_after_secs }) => errors.add(
            "",
            &format!(
                "Too many attempts that did not work. Please wait {} minute(s).",
                retry_after_secs.div_ceil(60)
            ),
        ),
        Err(e) => {
            tracing::error!(error = %e, "re-authentication failed");
            errors.add(
                "",
                "The server could not check the password. Please try again.",
            );
        }
    }
    Err(errors)
}

/// Checks the current password again; if it is not right, the page
/// saying why (the problem under `field`).
async fn reauthenticate<'c>(
    mail: &MailServices,
    c: &'c Caller,
    password: &str,
    peer: Option<axum::Extension<api::PeerAddr>>,
    field: &str,
) -> Result<Holder<'c>, Response> {
    match password_is_right(mail, c, password, peer, field).await {
        Ok(()) => Ok(Holder {
            login: c.session.login_id,
            secret: &c.secret,
        }),
        Err(errors) => Err(page(mail, c, &errors, "").await),
    }
}

/// The page after a credential change: what to show once it is done, or
/// its problems (a bad password reported under `field`).
async fn after(
    mail: &MailServices,
    c: &Caller,
    done: Result<String, AccountError>,
    field: &str,
) -> Response {
    let mut errors = FormErrors::default();
    match done {
        Ok(shown) => page(mail, c, &errors, &shown).await,
        Err(e) => {
            problems(e, &mut errors, field);
            page(mail, c, &errors, "").await
        }
    }
}

fn problems(e: AccountError, errors: &mut FormErrors, field: &str) {
    match e {
        AccountError::Invalid(list) => {
            for i in list {
                let f = if i.field == "Password" {
                    field
                } else {
                    i.field
                };
                errors.add(f, &i.reason);
            }
        }
        other => {
            tracing::error!(error = %other, "credential change failed");
            errors.add(
                "",
                "The server could not save this; nothing was changed. Please try again.",
            );
        }
    }
}

fn once(title: &str, what: &str, secret: &str) -> String {
    format!(
        "<section class=\"recovery\" role=\"status\"><h2>{}</h2><p>{}</p><p class=\"code\">{}</p>\
<p><strong>It is shown only now.</strong></p></section>\n",
        escape(title),
        escape(what),
        escape(secret)
    )
}

/// `POST /settings/password`
pub(crate) async fn change_password(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<api::PeerAddr>>,
    Form(f): Form<SecurityForm>,
) -> Response {
    let (mail, c) = match signed_in_form(&state, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let mut errors = FormErrors::default();
    if f.new_password != f.new_again {
        errors.add("New password again", "is not the same as the new password");
        return page(mail, &c, &errors, "").await;
    }
    let u = match reauthenticate(mail, &c, &f.current, peer, "Current password").await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let done = accounts::change_password(
        mail.store.as_ref(),
        state.clock.as_ref(),
        u,
        &f.new_password,
        state.kdf,
    )
    .await
    .map(|()| {
        tracing::info!(login = %c.session.login_name, "password changed");
        "<p role=\"status\" class=\"done\">Your password is changed. Use the new one from now on; your mail is unchanged.</p>\n".to_string()
    });
    after(mail, &c, done, "New password").await
}

/// `POST /settings/tokens`: a new app token, shown once.
pub(crate) async fn new_token(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<api::PeerAddr>>,
    Form(f): Form<SecurityForm>,
) -> Response {
    let (mail, c) = match signed_in_form(&state, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let u = match reauthenticate(mail, &c, &f.current_again, peer, "Current password").await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let done = accounts::issue_app_token(
        mail.store.as_ref(),
        state.clock.as_ref(),
        u,
        &f.label,
    )
    .await
    .map(|t| {
        tracing::info!(login = %c.session.login_name, token = %t.id, "app token issued");
        once(
            &format!("App token “{}”", f.label.trim()),
            "Enter it in the program instead of your password (with your ATHEN address as the user name).",
            &t.token,
        )
    });
    after(mail, &c, done, "Token name").await
}

/// `POST /settings/recovery-code`: a new recovery code, shown once.
pub(crate) async fn new_recovery_code(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<api::PeerAddr>>,
    Form(f): Form<SecurityForm>,
) -> Response {
    let (mail, c) = match signed_in_form(&state, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let field = "Current password (recovery code)";
    let u = match reauthenticate(mail, &c, &f.recovery_current, peer, field).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let done = accounts::renew_recovery_code(mail.store.as_ref(), state.clock.as_ref(), u)
        .await
        .map(|code| {
            tracing::info!(login = %c.session.login_name, "recovery code renewed");
            once(
                "Your new recovery code",
                "Print this page or write the code down and keep it somewhere safe. The old code no longer works.",
                &code,
            )
        });
    after(mail, &c, done, field).await
}

/// `POST /settings/tokens/{id}/revoke`: only the caller's own tokens.
pub(crate) async fn revoke_token(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let (mail, c) = match signed_in_form(&state, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let mine = match mail.store.credential(CredentialId(id)).await {
        Ok(Some(cred)) => {
            cred.login_id == c.session.login_id
                && cred.kind == CredentialKind::AppToken
                && cred.revoked_at.is_none()
        }
        Ok(None) => false,
        Err(e) => return error_page(athen_mail::MailError::Store(e).into()),
    };
    if !mine {
        return error_page(ApiError::new(
            StatusCode::NOT_FOUND,
            "you have no such app token",
        ));
    }
    if let Err(e) = mail
        .store
        .revoke_credential(CredentialId(id), state.clock.now())
        .await
    {
        return error_page(athen_mail::MailError::Store(e).into());
    }
    tracing::info!(login = %c.session.login_name, token = id, "app token revoked");
    page(
        mail,
        &c,
        &FormErrors::default(),
        "<p role=\"status\" class=\"done\">The token is revoked: programs using it can no longer sign in.</p>\n",
    )
    .await
}
