//! Settings → Directory entry, for the account's own login: what the public
//! directory shows about the practice or person (kind of service or
//! specialty, address, phone, fax, provider number, AHPRA), checked the
//! way registration checks it. The name stays: the ATHEN address was made
//! from it, and a new name is a matter for the administrator.

use crate::app::{Caller, MailServices};
use crate::forms::{Field, FormErrors, Select};
use crate::layout::error_page;
use crate::layout::escape;
use crate::layout::signed_in_layout;
use crate::session::{SignedIn, SignedInForm};
use athen_core::account::AccountKind;
use athen_core::directory::{Category, DirectoryEntry, EntryDetails, EntryInput, EntryRole};
use athen_core::identifiers::State as AuState;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub(crate) struct EntryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    specialty: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    street: String,
    #[serde(default)]
    suburb: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    postcode: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    fax: String,
    #[serde(default)]
    provider_number: String,
    #[serde(default)]
    ahpra: String,
}

impl crate::session::WithCsrf for EntryForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl EntryForm {
    fn from_details(d: &EntryDetails) -> Self {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        EntryForm {
            csrf: String::new(),
            title: s(&d.title),
            specialty: s(&d.specialty),
            category: d.category.map(|c| c.slug().to_string()).unwrap_or_default(),
            street: s(&d.street),
            suburb: s(&d.suburb),
            state: d.state.map(|x| x.code().to_string()).unwrap_or_default(),
            postcode: s(&d.postcode),
            phone: s(&d.phone),
            fax: s(&d.fax),
            provider_number: d.provider_numbers.join(", "),
            ahpra: s(&d.ahpra),
        }
    }

    fn value(&self, name: &str) -> &str {
        match name {
            "title" => &self.title,
            "specialty" => &self.specialty,
            "street" => &self.street,
            "suburb" => &self.suburb,
            "postcode" => &self.postcode,
            "phone" => &self.phone,
            "fax" => &self.fax,
            "provider_number" => &self.provider_number,
            "ahpra" => &self.ahpra,
            _ => "",
        }
    }

    /// The entry as typed, over the names it keeps.
    fn input(&self, kept: &EntryDetails, person: bool) -> EntryInput {
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        EntryInput {
            organisation_name: kept.organisation_name.clone(),
            given_name: kept.given_name.clone(),
            family_name: kept.family_name.clone(),
            position: kept.position.clone(),
            hpi: kept.hpi.clone(),
            title: person.then(|| opt(&self.title)).flatten(),
            specialty: person.then(|| opt(&self.specialty)).flatten(),
            ahpra: person.then(|| opt(&self.ahpra)).flatten(),
            category: opt(&self.category),
            street: opt(&self.street),
            suburb: opt(&self.suburb),
            state: opt(&self.state),
            postcode: opt(&self.postcode),
            phone: opt(&self.phone),
            fax: opt(&self.fax),
            provider_numbers: self
                .provider_number
                .split([',', ';'])
                .filter_map(opt)
                .collect(),
        }
    }
}

const PERSON_FIELDS: &[Field] = &[
    Field::text(
        "title",
        "Title",
        "Title",
        false,
        "e.g. Dr",
        "honorific-prefix",
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
        "ahpra",
        "AHPRA registration number",
        "AHPRA number",
        false,
        "",
        "off",
    ),
];

const PLACE_FIELDS: &[Field] = &[
    Field::text(
        "street",
        "Street address",
        "Street",
        true,
        "",
        "street-address",
    ),
    Field::text(
        "suburb",
        "Suburb or town",
        "Suburb",
        true,
        "",
        "address-level2",
    ),
    Field::text(
        "postcode",
        "Postcode",
        "Postcode",
        true,
        "4 digits",
        "postal-code",
    ),
    Field::text("phone", "Phone", "Phone", true, "e.g. 02 9999 1234", "tel"),
    Field::text("fax", "Fax", "Fax", false, "", "off"),
    Field::text(
        "provider_number",
        "Medicare provider number(s), separated by commas",
        "Provider number",
        false,
        "e.g. 2426621B",
        "off",
    ),
];

/// The account's own entry, if the caller is its own login.
async fn own_entry(mail: &MailServices, c: &Caller) -> Result<DirectoryEntry, Response> {
    let login = mail
        .store
        .login(c.session.login_id)
        .await
        .map_err(|e| error_page(athen_mail::MailError::Store(e).into()))?;
    if login.is_none_or(|l| l.staff_entry_id.is_some()) {
        return Err((
            StatusCode::FORBIDDEN,
            Html(signed_in_layout(
                c,
                "Directory entry",
                "<h1>Directory entry</h1>\n<p>Only the practice's own login changes its directory entry; staff logins cannot.</p>",
            )),
        )
            .into_response());
    }
    match mail.store.entry(c.account.entry_id).await {
        Ok(Some(e)) => Ok(e),
        Ok(None) => Err(error_page(crate::app::ApiError::new(
            StatusCode::NOT_FOUND,
            "this account has no directory entry",
        ))),
        Err(e) => Err(error_page(athen_mail::MailError::Store(e).into())),
    }
}

fn page(
    c: &Caller,
    e: &DirectoryEntry,
    f: &EntryForm,
    errors: &FormErrors,
    shown: &str,
) -> Response {
    let person = c.account.kind == AccountKind::Individual;
    let fields = |list: &[Field]| -> String {
        list.iter()
            .map(|fd| fd.render(f.value(fd.name), errors))
            .collect()
    };
    let mut categories: Vec<(&str, &str)> = vec![(
        "",
        if person {
            "None of these"
        } else {
            "Choose one"
        },
    )];
    categories.extend(Category::ALL.iter().map(|c| (c.slug(), c.label())));
    let mut states: Vec<(&str, &str)> = vec![("", "Choose one")];
    states.extend(AuState::ALL.iter().map(|s| (s.code(), s.code())));
    let body = format!(
        "<h1>Directory entry</h1>\n{}{shown}<p>This is what the public directory shows about <strong>{}</strong> \
(the name stays as registered; ask the administrator to change it).</p>\n\
<form method=\"post\" action=\"/settings/entry\" novalidate>\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
{}{}{}{}{}<button type=\"submit\">Save</button>\n</form>\n<p><a href=\"/directory?name={}\">See it in the directory</a> · <a href=\"/settings\">Back to Settings</a></p>",
        errors.summary(),
        escape(&e.details.display_name()),
        crate::layout::csrf_of(&c.token),
        if person {
            fields(PERSON_FIELDS)
        } else {
            String::new()
        },
        Select {
            id: "category",
            label: if person {
                "Kind of service"
            } else {
                "Kind of service *"
            },
            check: "Category",
            required: !person,
        }
        .render(&categories, &f.category, errors),
        fields(&PLACE_FIELDS[..2]),
        Select {
            id: "state",
            label: "State or territory *",
            check: "State",
            required: true,
        }
        .render(&states, &f.state, errors),
        fields(&PLACE_FIELDS[2..]),
        escape(&e.details.display_name()),
    );
    crate::forms::form_page(c, "Directory entry", &body, errors)
}

/// `GET /settings/entry`
pub(crate) async fn show(SignedIn { mail, caller: c }: SignedIn) -> Response {
    let mail = &*mail;
    match own_entry(mail, &c).await {
        Ok(e) => page(
            &c,
            &e,
            &EntryForm::from_details(&e.details),
            &FormErrors::default(),
            "",
        ),
        Err(res) => res,
    }
}

/// `POST /settings/entry`: checked as at registration, then saved.
pub(crate) async fn save(
    SignedInForm {
        mail,
        caller: c,
        form: f,
    }: SignedInForm<EntryForm>,
) -> Response {
    let mail = &*mail;
    let e = match own_entry(mail, &c).await {
        Ok(e) => e,
        Err(res) => return res,
    };
    let person = c.account.kind == AccountKind::Individual;
    let role = if person {
        EntryRole::Individual
    } else {
        EntryRole::Organisation
    };
    let details = match f.input(&e.details, person).validate(role) {
        Ok(d) => d,
        Err(problems) => {
            let mut errors = FormErrors::default();
            for p in problems {
                errors.add(p.field, &p.reason);
            }
            return page(&c, &e, &f, &errors, "");
        }
    };
    if let Err(err) = mail.store.update_entry(e.id, details.clone()).await {
        return error_page(athen_mail::MailError::Store(err).into());
    }
    tracing::info!(login = %c.session.login_name, entry = e.id.0, "directory entry changed");
    let saved = DirectoryEntry { details, ..e };
    page(
        &c,
        &saved,
        &EntryForm::from_details(&saved.details),
        &FormErrors::default(),
        "<p role=\"status\" class=\"done\">Saved: the directory shows this now.</p>\n",
    )
}
