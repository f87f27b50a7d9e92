//! Settings → Sign-in and app tokens: the signed-in login's own password,
//! recovery code and app tokens (for the downloader and mail programs).
//!
//! Whatever makes a new credential asks for the current password again
//! (a session left open on a shared computer must not be enough to take
//! the mailbox away), and goes through the sign-in throttle. New secrets
//! are shown once. A token is revoked only by the login it belongs to.

use crate::WebState;
use crate::app::{ApiError, Caller, MailServices};
use crate::forms::{Field, FormErrors};
use crate::layout::error_page;
use crate::layout::escape;
use crate::session::CsrfForm;
use crate::session::{SignedIn, SignedInForm};
use athen_core::CredentialId;
use athen_core::account::{CredentialKind, Doors};
use athen_core::clock::rfc3339;
use athen_vault::VaultError;
use athen_vault::accounts::Holder;
use athen_vault::accounts::{self, AccountError};
use athen_vault::auth::FirstStep;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;
use zeroize::Zeroize;

async fn page(mail: &MailServices, c: &Caller, errors: &FormErrors, shown: &str) -> Response {
    let tokens = match mail.store.live_credentials(c.session.login_id).await {
        Ok(list) => list,
        Err(e) => return error_page(athen_mail::MailError::Store(e).into()),
    };
    let csrf = crate::layout::csrf_of(&c.token);
    let rows: String = tokens
        .iter()
        .filter(|t| t.kind == CredentialKind::AppToken)
        .map(|t| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/settings/tokens/{}/revoke\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\" class=\"danger\">Revoke</button></form></td></tr>\n",
                escape(&t.label),
                escape(&door_names(t.doors)),
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
            "<table>\n<caption>App tokens of {}</caption>\n<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">For</th><th scope=\"col\">Made</th>\
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
    let code = code_field(mail, c, errors).await;
    let doors = door_boxes();
    let sessions = open_sessions(mail, c, &tokens, &csrf);
    let body = format!(
        "<h1>Sign-in and app tokens</h1>\n{}{shown}\
<p>These are for <strong>{}</strong> only; every staff login has its own.</p>\n\
<h2>Change your password</h2>\n\
<form method=\"post\" action=\"/settings/password\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{}{code}{}{}\
<button type=\"submit\">Change password</button>\n</form>\n\
<h2>App tokens</h2>\n<p>The downloader and mail programs (Outlook, Thunderbird, a phone) sign in with an app token \
instead of your password. Give each its own, named after where it runs, and revoke it when that computer goes.</p>\n{table}\n\
<form method=\"post\" action=\"/settings/tokens\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{}{doors}{}{code}\
<button type=\"submit\">Make a new app token</button>\n</form>\n\
<h2>Where you are signed in</h2>\n{sessions}\n\
<h2>Recovery code</h2>\n<p>The recovery code gets you back in if the password is lost. Make a new one if the old one \
may have been seen or is lost; the old one then stops working.</p>\n\
<form method=\"post\" action=\"/settings/recovery-code\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{}{code}\
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
    crate::forms::form_page(c, "Sign-in and app tokens", &body, errors)
}

/// The login's open sessions: where (the door and the address), since
/// when and last used, with what (the password or which app token), and a
/// button to end each; the one showing this page is marked.
fn open_sessions(
    mail: &MailServices,
    c: &Caller,
    credentials: &[athen_core::account::CredentialRecord],
    csrf: &str,
) -> String {
    let mine = athen_vault::sessions::Sessions::public_id(&c.token);
    let time = |t| escape(rfc3339(t).get(..16).unwrap_or_default()).replace('T', " ");
    let rows: String = mail
        .sessions
        .of_login(c.session.login_id)
        .iter()
        .map(|o| {
            let s = &o.session;
            let with = match s.kind {
                CredentialKind::AppToken => credentials
                    .iter()
                    .find(|t| t.id == s.credential)
                    .map(|t| format!("app token “{}”", escape(&t.label)))
                    .unwrap_or_else(|| "an app token".into()),
                CredentialKind::RecoveryCode => "the recovery code".into(),
                CredentialKind::Password => "the password".into(),
            };
            let end = if o.id == mine {
                "<td>this one</td>".to_string()
            } else {
                format!(
                    "<td><form method=\"post\" action=\"/settings/sessions/{}/end\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\" class=\"danger\">End</button></form></td>",
                    escape(&o.id)
                )
            };
            format!(
                "<tr><td>{} from {}</td><td>{with}</td><td>{}</td><td>{}</td>{end}</tr>\n",
                escape(s.via.words()),
                s.source
                    .map(|a| escape(&a.to_string()))
                    .unwrap_or_else(|| "this computer".into()),
                time(s.created_at),
                time(s.last_seen),
            )
        })
        .collect();
    format!(
        "<table>\n<caption>Open sessions of {}</caption>\n<thead><tr><th scope=\"col\">Where</th><th scope=\"col\">With</th>\
<th scope=\"col\">Since (UTC)</th><th scope=\"col\">Last used (UTC)</th><th scope=\"col\">Action</th></tr></thead>\n\
<tbody>\n{rows}</tbody>\n</table>\n<p>Ending a session signs that browser or program out at once; the mailbox locks \
when no session is left.</p>",
        escape(&c.session.login_name)
    )
}

/// `POST /settings/sessions/{id}/end`: ends one of the caller's own
/// sessions (never another login's).
pub(crate) async fn end_session(
    Path(id): Path<String>,
    SignedInForm {
        mail,
        caller: c,
        form: _,
    }: SignedInForm<CsrfForm>,
) -> Response {
    let mail = &*mail;
    if !mail.sessions.close_of_login(c.session.login_id, &id) {
        return error_page(ApiError::new(
            StatusCode::NOT_FOUND,
            "you have no such session (it may have ended already)",
        ));
    }
    tracing::info!(login = %c.session.login_name, "session ended from Settings");
    page(
        mail,
        &c,
        &FormErrors::default(),
        "<p role=\"status\" class=\"done\">The session is ended: that browser or program is signed out.</p>\n",
    )
    .await
}

/// "the downloader, IMAP": what a token opens, in words.
fn door_names(doors: Doors) -> String {
    let words: Vec<&str> = DOOR_BOXES
        .iter()
        .filter(|(_, d, _)| doors.bits() & d.bits() != 0)
        .map(|(_, _, words)| *words)
        .collect();
    if words.is_empty() {
        "nothing".into()
    } else {
        words.join(", ")
    }
}

/// The check boxes of a new token's doors: field, door, words.
const DOOR_BOXES: [(&str, Doors, &str); 4] = [
    ("door_downloader", Doors::DOWNLOADER, "the downloader"),
    (
        "door_imap",
        Doors::IMAP,
        "reading mail in a mail program (IMAP)",
    ),
    (
        "door_smtp",
        Doors::SUBMISSION,
        "sending from a mail program (SMTP)",
    ),
    ("door_api", Doors::API, "the whole JSON API (scripts)"),
];

fn door_boxes() -> String {
    let boxes: String = DOOR_BOXES
        .iter()
        .map(|(name, _, words)| {
            format!(
                "<label class=\"check\"><input type=\"checkbox\" name=\"{name}\" value=\"on\"> {}</label>\n",
                escape(words)
            )
        })
        .collect();
    format!(
        "<fieldset><legend>What it is for (it opens nothing else; never the web app)</legend>\n{boxes}</fieldset>\n"
    )
}

/// `GET /settings/security`
pub(crate) async fn show(SignedIn { mail, caller: c }: SignedIn) -> Response {
    page(&mail, &c, &FormErrors::default(), "").await
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
    /// The one-time code, for a login with two-step sign-in.
    #[serde(default)]
    code: String,
    /// The doors a new app token opens (check boxes).
    #[serde(default)]
    door_downloader: Option<String>,
    #[serde(default)]
    door_api: Option<String>,
    #[serde(default)]
    door_imap: Option<String>,
    #[serde(default)]
    door_smtp: Option<String>,
}

impl crate::session::WithCsrf for SecurityForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl SecurityForm {
    fn doors(&self) -> Doors {
        [
            (&self.door_downloader, Doors::DOWNLOADER),
            (&self.door_api, Doors::API),
            (&self.door_imap, Doors::IMAP),
            (&self.door_smtp, Doors::SUBMISSION),
        ]
        .iter()
        .filter(|(on, _)| on.is_some())
        .fold(Doors::NONE, |all, (_, d)| all.union(*d))
    }
}

impl Drop for SecurityForm {
    fn drop(&mut self) {
        for s in [
            &mut self.current,
            &mut self.current_again,
            &mut self.recovery_current,
            &mut self.new_password,
            &mut self.new_again,
            &mut self.code,
        ] {
            s.zeroize();
        }
    }
}

/// Checks the signed-in login's password again, and its one-time code
/// when it has two-step sign-in (throttled like sign-in). Never an app
/// token: one copied from a downloader PC must not change the password,
/// the recovery code, two-step sign-in or the staff logins. A session
/// opened with the recovery code (the way in when the phone is lost) needs
/// the password only. The problem under `field` if it is not right.
pub(crate) async fn password_is_right(
    mail: &MailServices,
    c: &Caller,
    password: &str,
    code: &str,
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    field: &str,
) -> Result<(), FormErrors> {
    let mut errors = FormErrors::default();
    let peer = peer.map(|p| p.0.0.ip());
    let name = &c.session.login_name;
    let checked = if c.session.kind == CredentialKind::RecoveryCode {
        match mail.authenticator.sign_in(name, password, peer).await {
            Ok(FirstStep::Done(u)) => Ok(u.account.mailbox_id),
            Ok(FirstStep::CodeNeeded(half)) => Ok(half.mailbox()),
            Err(e) => Err(e),
        }
    } else {
        let code = Some(code.trim()).filter(|c| !c.is_empty());
        mail.authenticator
            .reauthenticate(name, password, code, peer)
            .await
            .map(|u| u.account.mailbox_id)
    };
    match checked {
        Ok(mailbox) if mailbox == c.session.mailbox_id => return Ok(()),
        Ok(_) | Err(VaultError::BadCredential | VaultError::NotThisDoor(_)) => {
            errors.add(field, "is not right")
        }
        Err(VaultError::SecondStepNeeded) => errors.add(
            CODE_LABEL,
            "is needed: enter the six-digit code from your authenticator app",
        ),
        Err(VaultError::BadCode) => errors.add(CODE_LABEL, "is not right, or was used already"),
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

const CODE_LABEL: &str = "Code from your authenticator app";

/// The box for the one-time code that a re-authentication asks for, when
/// the signed-in login has two-step sign-in (and its session was not
/// opened with the recovery code); empty otherwise.
pub(crate) async fn code_field(mail: &MailServices, c: &Caller, errors: &FormErrors) -> String {
    if c.session.kind == CredentialKind::RecoveryCode {
        return String::new();
    }
    match mail.store.totp(c.session.login_id).await {
        Ok(Some(_)) => Field::text(
            "code",
            CODE_LABEL,
            CODE_LABEL,
            true,
            "six digits",
            "one-time-code",
        )
        .render("", errors),
        // Not known: the form asks, and the server says if it was needed.
        Ok(None) => String::new(),
        Err(_) => Field::text(
            "code",
            CODE_LABEL,
            CODE_LABEL,
            false,
            "six digits",
            "one-time-code",
        )
        .render("", errors),
    }
}

/// Checks the current password again; if it is not right, the page
/// saying why (the problem under `field`).
async fn reauthenticate<'c>(
    mail: &MailServices,
    c: &'c Caller,
    (password, code): (&str, &str),
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    field: &str,
) -> Result<Holder<'c>, Response> {
    match password_is_right(mail, c, password, code, peer, field).await {
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
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    SignedInForm {
        mail,
        caller: c,
        form: f,
    }: SignedInForm<SecurityForm>,
) -> Response {
    let mail = &*mail;
    let mut errors = FormErrors::default();
    if f.new_password != f.new_again {
        errors.add("New password again", "is not the same as the new password");
        return page(mail, &c, &errors, "").await;
    }
    let u = match reauthenticate(mail, &c, (&f.current, &f.code), peer, "Current password").await {
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
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    SignedInForm {
        mail,
        caller: c,
        form: f,
    }: SignedInForm<SecurityForm>,
) -> Response {
    let mail = &*mail;
    let u = match reauthenticate(
        mail,
        &c,
        (&f.current_again, &f.code),
        peer,
        "Current password",
    )
    .await
    {
        Ok(u) => u,
        Err(res) => return res,
    };
    let done = accounts::issue_app_token(
        mail.store.as_ref(),
        state.clock.as_ref(),
        u,
        &f.label,
        f.doors(),
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
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    SignedInForm {
        mail,
        caller: c,
        form: f,
    }: SignedInForm<SecurityForm>,
) -> Response {
    let mail = &*mail;
    let field = "Current password (recovery code)";
    let u = match reauthenticate(mail, &c, (&f.recovery_current, &f.code), peer, field).await {
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
    Path(id): Path<i64>,
    SignedInForm {
        mail,
        caller: c,
        form: _,
    }: SignedInForm<CsrfForm>,
) -> Response {
    let mail = &*mail;
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
    // Whatever it opened ends now: web, API and IMAP sessions alike.
    let ended = mail.sessions.close_credential(CredentialId(id));
    tracing::info!(login = %c.session.login_name, token = id, sessions = ended, "app token revoked");
    page(
        mail,
        &c,
        &FormErrors::default(),
        "<p role=\"status\" class=\"done\">The token is revoked: programs using it are signed out and can no longer sign in.</p>\n",
    )
    .await
}
