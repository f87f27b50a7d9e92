//! Settings → Staff, for an organisation's own login: the staff listed
//! under it in the directory, adding and removing them, and giving each
//! their own login on the practice's mailbox (their own password over the
//! same key; the trail then names who did what) or turning it off.
//!
//! Staff logins cannot open this page: only the practice's own login
//! manages who else may read its mail. Giving a login makes a credential,
//! so it asks for the practice's password again, like Settings → Sign-in.

use crate::WebState;
use crate::app::{Caller, MailServices};
use crate::forms::{Field, FormErrors};
use crate::layout::error_page;
use crate::layout::escape;
use crate::layout::signed_in_layout;
use crate::session::{SignedIn, SignedInForm};
use athen_core::account::{AccountKind, Login};
use athen_core::directory::{DirectoryEntry, EntryInput, EntryRole, staff_login_name};
use athen_core::ids::{EntryId, LoginId};
use athen_vault::accounts::{self, AccountError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use zeroize::Zeroize;

const STAFF_FIELDS: &[Field] = &[
    Field::text("title", "Title (if used)", "Title", false, "e.g. Dr", "off"),
    Field::text("given_name", "Given name", "Given name", false, "", "off"),
    Field::text("family_name", "Family name", "Family name", true, "", "off"),
    Field::text(
        "position",
        "Position",
        "Position",
        false,
        "e.g. GP, Practice nurse, Receptionist",
        "off",
    ),
    Field::text(
        "specialty",
        "Specialty",
        "Specialty",
        false,
        "e.g. Cardiology",
        "off",
    ),
    Field::text(
        "provider_number",
        "Medicare provider number (if they have one)",
        "Provider number",
        false,
        "e.g. 2426621B",
        "off",
    ),
];

#[derive(Deserialize, Default)]
pub(crate) struct StaffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    specialty: String,
    #[serde(default)]
    provider_number: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
    #[serde(default)]
    current: String,
    /// The owner's one-time code, when two-step sign-in is on.
    #[serde(default)]
    code: String,
}

impl crate::session::WithCsrf for StaffForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl Drop for StaffForm {
    fn drop(&mut self) {
        for s in [
            &mut self.password,
            &mut self.password_again,
            &mut self.current,
        ] {
            s.zeroize();
        }
    }
}

impl StaffForm {
    fn value(&self, name: &str) -> &str {
        match name {
            "title" => &self.title,
            "given_name" => &self.given_name,
            "family_name" => &self.family_name,
            "position" => &self.position,
            "specialty" => &self.specialty,
            "provider_number" => &self.provider_number,
            _ => "",
        }
    }

    fn entry(&self) -> EntryInput {
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        EntryInput {
            title: opt(&self.title),
            given_name: opt(&self.given_name),
            family_name: opt(&self.family_name),
            position: opt(&self.position),
            specialty: opt(&self.specialty),
            provider_numbers: opt(&self.provider_number).into_iter().collect(),
            ..EntryInput::default()
        }
    }
}

/// The caller, if it is an organisation's own login; else the page saying
/// why not.
async fn owner(mail: &MailServices, c: &Caller) -> Result<(), Response> {
    let login = mail
        .store
        .login(c.session.login_id)
        .await
        .map_err(|e| error_page(athen_mail::MailError::Store(e).into()))?;
    let why = if c.account.kind != AccountKind::Organisation {
        Some("Only organisations have staff. A person's account is for that person alone.")
    } else if login.is_none_or(|l| l.staff_entry_id.is_some()) {
        Some("Only the practice's own login manages its staff; staff logins cannot.")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err((
            StatusCode::FORBIDDEN,
            Html(signed_in_layout(
                c,
                "Staff",
                &format!(
                    "<h1>Staff</h1>\n<p>{}</p>\n<p><a href=\"/settings\">Back to Settings</a></p>",
                    escape(why)
                ),
            )),
        )
            .into_response()),
    }
}

async fn staff_and_logins(
    mail: &MailServices,
    c: &Caller,
) -> Result<(Vec<DirectoryEntry>, Vec<Login>), athen_core::StoreError> {
    let staff = mail
        .store
        .entries_of_account(c.account.id)
        .await?
        .into_iter()
        .filter(|e| e.role == EntryRole::Staff)
        .collect();
    let logins = mail.store.logins_of_account(c.account.id).await?;
    Ok((staff, logins))
}

/// The page: the staff list, and the form to add someone.
async fn page(
    mail: &MailServices,
    c: &Caller,
    form: &StaffForm,
    errors: &FormErrors,
    shown: &str,
) -> Response {
    let (staff, logins) = match staff_and_logins(mail, c).await {
        Ok(x) => x,
        Err(e) => return error_page(athen_mail::MailError::Store(e).into()),
    };
    let csrf = crate::layout::csrf_of(&c.token);
    let rows: String = staff
        .iter()
        .map(|e| {
            let login = logins
                .iter()
                .find(|l| l.staff_entry_id == Some(e.id) && l.disabled_at.is_none());
            let (login_cell, action) = match login {
                Some(l) => (
                    escape(&l.name),
                    format!(
                        "<form method=\"post\" action=\"/settings/staff/logins/{}/off\" class=\"actions\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" class=\"danger\">Turn login off</button></form>",
                        l.id.0
                    ),
                ),
                None => (
                    "none".to_string(),
                    format!(
                        "<a href=\"/settings/staff/{0}/login\">Give a login</a>\
<form method=\"post\" action=\"/settings/staff/{0}/remove\" class=\"actions\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" class=\"danger\">Remove from the directory</button></form>",
                        e.id.0
                    ),
                ),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{login_cell}</td><td>{action}</td></tr>\n",
                escape(&e.details.display_name()),
                escape(
                    e.details
                        .position
                        .as_deref()
                        .or(e.details.specialty.as_deref())
                        .unwrap_or_default()
                ),
                escape(&e.details.provider_numbers.join(", ")),
            )
        })
        .collect();
    let table = if rows.is_empty() {
        "<p>No staff are listed yet.</p>".to_string()
    } else {
        format!(
            "<table>\n<caption>Staff of {}</caption>\n<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Position</th>\
<th scope=\"col\">Provider number</th><th scope=\"col\">Login</th><th scope=\"col\">Actions</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>",
            escape(&c.account.name)
        )
    };
    let fields: String = STAFF_FIELDS
        .iter()
        .map(|f| f.render(form.value(f.name), errors))
        .collect();
    let body = format!(
        "<h1>Staff</h1>\n{}{shown}<p>Staff listed here appear under {} in the directory, so others can find and write to them. \
A staff member with a login signs in with their own name and password and sees the practice's mail; the record of each letter \
names who read or sent it.</p>\n{table}\n\
<h2>Add a staff member</h2>\n<form method=\"post\" action=\"/settings/staff\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{fields}\
<button type=\"submit\">Add to the directory</button>\n</form>\n<p><a href=\"/settings\">Back to Settings</a></p>",
        errors.summary(),
        escape(&c.account.name),
    );
    crate::forms::form_page(c, "Staff", &body, errors)
}

/// `GET /settings/staff`
pub(crate) async fn show(SignedIn { mail, caller: c }: SignedIn) -> Response {
    let mail = &*mail;
    if let Err(res) = owner(mail, &c).await {
        return res;
    }
    page(mail, &c, &StaffForm::default(), &FormErrors::default(), "").await
}

/// `POST /settings/staff`: a new staff entry in the directory.
pub(crate) async fn add(
    SignedInForm {
        mail,
        caller: c,
        form: f,
    }: SignedInForm<StaffForm>,
) -> Response {
    let mail = &*mail;
    if let Err(res) = owner(mail, &c).await {
        return res;
    }
    let details = match f.entry().validate(EntryRole::Staff) {
        Ok(d) => d,
        Err(problems) => {
            let mut errors = FormErrors::default();
            for p in problems {
                errors.add(p.field, &p.reason);
            }
            return page(mail, &c, &f, &errors, "").await;
        }
    };
    let name = details.display_name();
    match mail
        .store
        .add_entry(c.account.id, EntryRole::Staff, details)
        .await
    {
        Ok(id) => {
            tracing::info!(login = %c.session.login_name, entry = id.0, "staff entry added");
            let shown = format!(
                "<p role=\"status\" class=\"done\">{} is now listed under {}.</p>\n",
                escape(&name),
                escape(&c.account.name)
            );
            page(
                mail,
                &c,
                &StaffForm::default(),
                &FormErrors::default(),
                &shown,
            )
            .await
        }
        Err(e) => error_page(athen_mail::MailError::Store(e).into()),
    }
}

/// One of the organisation's staff entries, or 404.
async fn staff_entry(mail: &MailServices, c: &Caller, id: i64) -> Result<DirectoryEntry, Response> {
    match mail.store.entry(EntryId(id)).await {
        Ok(Some(e)) if e.account_id == c.account.id && e.role == EntryRole::Staff => Ok(e),
        Ok(_) => Err(error_page(crate::app::ApiError::new(
            StatusCode::NOT_FOUND,
            "there is no such staff member",
        ))),
        Err(e) => Err(error_page(athen_mail::MailError::Store(e).into())),
    }
}

/// `POST /settings/staff/{id}/remove`: off the directory (a staff member
/// with a login keeps it until the login is turned off).
pub(crate) async fn remove(
    Path(id): Path<i64>,
    SignedInForm {
        mail,
        caller: c,
        form: _,
    }: SignedInForm<StaffForm>,
) -> Response {
    let mail = &*mail;
    if let Err(res) = owner(mail, &c).await {
        return res;
    }
    let e = match staff_entry(mail, &c, id).await {
        Ok(e) => e,
        Err(res) => return res,
    };
    let shown = match mail.store.remove_entry(e.id).await {
        Ok(()) => format!(
            "<p role=\"status\" class=\"done\">{} is no longer listed.</p>\n",
            escape(&e.details.display_name())
        ),
        Err(athen_core::StoreError::State(why)) => {
            let mut errors = FormErrors::default();
            errors.add("", &why);
            return page(mail, &c, &StaffForm::default(), &errors, "").await;
        }
        Err(e) => return error_page(athen_mail::MailError::Store(e).into()),
    };
    page(
        mail,
        &c,
        &StaffForm::default(),
        &FormErrors::default(),
        &shown,
    )
    .await
}

fn login_form(c: &Caller, e: &DirectoryEntry, f: &StaffForm, errors: &FormErrors) -> Response {
    let csrf = crate::layout::csrf_of(&c.token);
    let suggested = if f.login.is_empty() {
        staff_login_name(&c.account.address, &e.details)
    } else {
        f.login.clone()
    };
    let body = format!(
        "<h1>A login for {}</h1>\n{}<p>They will sign in with this name and their own password, and see the practice's mail. \
Give them the password in person; they can change it in Settings.</p>\n\
<form method=\"post\" action=\"/settings/staff/{}/login\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{}{}{}{}{}\
<button type=\"submit\">Give the login</button>\n</form>\n<p><a href=\"/settings/staff\">Back to Staff</a></p>",
        escape(&e.details.display_name()),
        errors.summary(),
        e.id.0,
        Field::text("login", "Their login name", "Login name", true, "", "off")
            .render(&suggested, errors),
        Field::password(
            "password",
            "Their first password (at least 10 characters)",
            "Password",
            "new-password"
        )
        .render("", errors),
        Field::password(
            "password_again",
            "The same password again",
            "Password again",
            "new-password"
        )
        .render("", errors),
        Field::password(
            "current",
            "Your own (the practice's) current password",
            "Current password",
            "current-password"
        )
        .render("", errors),
        Field::text(
            "code",
            "Your code from the authenticator app, if you use two-step sign-in",
            "Code from your authenticator app",
            false,
            "six digits",
            "one-time-code"
        )
        .render("", errors),
    );
    crate::forms::form_page(c, "A login for staff", &body, errors)
}

/// `GET /settings/staff/{id}/login`
pub(crate) async fn login_page(
    SignedIn { mail, caller: c }: SignedIn,
    Path(id): Path<i64>,
) -> Response {
    let mail = &*mail;
    if let Err(res) = owner(mail, &c).await {
        return res;
    }
    match staff_entry(mail, &c, id).await {
        Ok(e) => login_form(&c, &e, &StaffForm::default(), &FormErrors::default()),
        Err(res) => res,
    }
}

/// `POST /settings/staff/{id}/login`: the login, after the practice's
/// password.
pub(crate) async fn give_login(
    State(state): State<Arc<WebState>>,
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    Path(id): Path<i64>,
    SignedInForm {
        mail,
        caller: c,
        form: f,
    }: SignedInForm<StaffForm>,
) -> Response {
    let mail = &*mail;
    if let Err(res) = owner(mail, &c).await {
        return res;
    }
    let e = match staff_entry(mail, &c, id).await {
        Ok(e) => e,
        Err(res) => return res,
    };
    if f.password != f.password_again {
        let mut errors = FormErrors::default();
        errors.add("Password again", "is not the same as the password");
        return login_form(&c, &e, &f, &errors);
    }
    if let Err(errors) =
        crate::security::password_is_right(mail, &c, &f.current, &f.code, peer, "Current password")
            .await
    {
        return login_form(&c, &e, &f, &errors);
    }
    let done = accounts::add_staff_login(
        mail.store.as_ref(),
        state.clock.as_ref(),
        (&c.account, &c.secret),
        e.id,
        &f.login,
        &f.password,
        state.kdf,
    )
    .await;
    match done {
        Ok(login) => {
            tracing::info!(login = %c.session.login_name, staff_login = login.0, "staff login given");
            let shown = format!(
                "<p role=\"status\" class=\"done\">{} can now sign in as <strong>{}</strong>.</p>\n",
                escape(&e.details.display_name()),
                escape(&f.login.trim().to_ascii_lowercase())
            );
            page(
                mail,
                &c,
                &StaffForm::default(),
                &FormErrors::default(),
                &shown,
            )
            .await
        }
        Err(AccountError::Invalid(list)) => {
            let mut errors = FormErrors::default();
            for i in list {
                errors.add(i.field, &i.reason);
            }
            login_form(&c, &e, &f, &errors)
        }
        Err(AccountError::Store(athen_core::StoreError::Conflict(_)))
        | Err(AccountError::Vault(athen_vault::VaultError::Store(
            athen_core::StoreError::Conflict(_),
        ))) => {
            let mut errors = FormErrors::default();
            errors.add("Login name", "is taken already; choose another");
            login_form(&c, &e, &f, &errors)
        }
        Err(other) => {
            tracing::error!(error = %other, "staff login not given");
            let mut errors = FormErrors::default();
            errors.add(
                "",
                "The server could not save this; nothing was changed. Please try again.",
            );
            login_form(&c, &e, &f, &errors)
        }
    }
}

/// `POST /settings/staff/logins/{id}/off`: the login stops working at once
/// (its sessions end; its password and tokens are revoked).
pub(crate) async fn login_off(
    State(state): State<Arc<WebState>>,
    Path(id): Path<i64>,
    SignedInForm {
        mail,
        caller: c,
        form: _,
    }: SignedInForm<StaffForm>,
) -> Response {
    let mail = &*mail;
    if let Err(res) = owner(mail, &c).await {
        return res;
    }
    let login = match mail.store.login(LoginId(id)).await {
        Ok(Some(l)) if l.account_id == c.account.id && l.staff_entry_id.is_some() => l,
        Ok(_) => {
            return error_page(crate::app::ApiError::new(
                StatusCode::NOT_FOUND,
                "there is no such staff login",
            ));
        }
        Err(e) => return error_page(athen_mail::MailError::Store(e).into()),
    };
    if let Err(e) = mail.store.disable_login(login.id, state.clock.now()).await {
        return error_page(athen_mail::MailError::Store(e).into());
    }
    mail.sessions.close_login(login.id);
    tracing::info!(login = %c.session.login_name, staff_login = login.id.0, "staff login turned off");
    let shown = format!(
        "<p role=\"status\" class=\"done\">{} can no longer sign in.</p>\n",
        escape(&login.name)
    );
    page(
        mail,
        &c,
        &StaffForm::default(),
        &FormErrors::default(),
        &shown,
    )
    .await
}
