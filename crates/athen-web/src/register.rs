//! Joining ATHEN: registering a practice (an organisation) or a person, and
//! confirming the account with the code from the welcome letter.
//!
//! A new account is provisional: it can sign in, send and receive, but is
//! not listed in the directory until the code posted to its street address
//! comes back (athen-original.md, "Registration"). The recovery code is
//! shown once, on a page made to be printed; the confirmation code is kept
//! only sealed, for the administrator to print in the welcome letter.

use crate::WebState;
use crate::forms::{self, Field, FormErrors, Select};
use crate::layout::{escape, layout};
use athen_core::account::{AccountKind, AccountStatus, StatusAction};
use athen_core::directory::{Category, EntryInput, local_part_from_name};
use athen_core::identifiers::State as AuState;
use athen_core::store::MetadataStore;
use athen_vault::accounts::{self, AccountError, Registration};
use athen_vault::auth::{Throttle, ThrottleLimits};
use athen_vault::{QueueKey, VaultError, codes};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use zeroize::Zeroize;

/// What registration and confirmation need.
pub struct AccountServices {
    pub store: Arc<dyn MetadataStore>,
    /// Seals the confirmation codes kept for the welcome letters.
    pub letters_key: Arc<QueueKey>,
    /// Wrong confirmation codes, per address and per client address.
    pub confirm_throttle: Throttle,
    /// Registrations per client address (each one counts).
    pub register_throttle: Throttle,
}

impl AccountServices {
    pub fn new(store: Arc<dyn MetadataStore>, letters_key: Arc<QueueKey>) -> Self {
        AccountServices {
            store,
            letters_key,
            confirm_throttle: Throttle::new(ThrottleLimits {
                per_login: 5,
                per_source: 20,
                window_secs: 60 * 60,
            }),
            // No login to count per; every registration counts for its
            // client address, so one address cannot fill the directory.
            register_throttle: Throttle::new(ThrottleLimits {
                per_login: u32::MAX,
                per_source: 10,
                window_secs: 60 * 60,
            }),
        }
    }
}

/// Who the registration events are recorded as.
const ACTOR: &str = "web registration";

fn services(state: &WebState) -> Result<&AccountServices, Box<Response>> {
    state.accounts.as_deref().ok_or_else(|| {
        Box::new(forms::message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not available",
            "Registration is not available on this server.",
        ))
    })
}

/// `GET /register`: which kind of account.
pub(crate) async fn choose() -> Html<String> {
    Html(layout(
        "Join ATHEN",
        "<h1>Join ATHEN</h1>\n\
<p>Register once for your practice or for yourself. We then post a letter with a confirmation code \
to the street address you give; entering that code shows you in the directory, so other providers can \
find you. Until then you can already receive mail, and write to other users of this server (they are told \
your account is not confirmed yet), but not to other servers.</p>\n\
<ul class=\"choices\">\n\
<li><a href=\"/register/organisation\"><strong>A practice, clinic or hospital</strong></a><br>\
One mailbox for the organisation. Staff get their own sign-in later, under Settings.</li>\n\
<li><a href=\"/register/individual\"><strong>A person</strong></a><br>\
A doctor, specialist or allied health provider with their own provider number.</li>\n\
</ul>\n<p>Already registered and have your letter? <a href=\"/confirm\">Enter the confirmation code</a>.</p>",
    ))
}

fn kind_of(s: &str) -> Option<AccountKind> {
    match s {
        "organisation" => Some(AccountKind::Organisation),
        "individual" => Some(AccountKind::Individual),
        _ => None,
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    organisation_name: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    specialty: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    provider_number: String,
    #[serde(default)]
    ahpra: String,
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
    /// The part of the address before the `@`, if not the one made from the name.
    #[serde(default)]
    mailbox: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

impl Drop for RegisterForm {
    fn drop(&mut self) {
        self.password.zeroize();
        self.password_again.zeroize();
    }
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl RegisterForm {
    fn entry(&self, kind: AccountKind) -> EntryInput {
        let person = kind == AccountKind::Individual;
        EntryInput {
            organisation_name: (!person).then(|| opt(&self.organisation_name)).flatten(),
            title: person.then(|| opt(&self.title)).flatten(),
            given_name: person.then(|| opt(&self.given_name)).flatten(),
            family_name: person.then(|| opt(&self.family_name)).flatten(),
            specialty: person.then(|| opt(&self.specialty)).flatten(),
            category: opt(&self.category),
            provider_numbers: opt(&self.provider_number).into_iter().collect(),
            ahpra: person.then(|| opt(&self.ahpra)).flatten(),
            street: opt(&self.street),
            suburb: opt(&self.suburb),
            state: opt(&self.state),
            postcode: opt(&self.postcode),
            phone: opt(&self.phone),
            fax: opt(&self.fax),
            ..EntryInput::default()
        }
    }

    /// The name the address is made from.
    fn name(&self, kind: AccountKind) -> String {
        match kind {
            AccountKind::Organisation => self.organisation_name.trim().to_string(),
            AccountKind::Individual => {
                format!("{} {}", self.given_name.trim(), self.family_name.trim())
            }
        }
    }
}

/// The form's fields: (input name, label, the validator's field name,
/// required, hint, autocomplete).
const ORGANISATION_FIELDS: &[Field] = &[
    Field::text(
        "organisation_name",
        "Name of the practice or organisation",
        "Organisation name",
        true,
        "e.g. Northside Medical Centre",
        "organization",
    ),
    Field::text(
        "provider_number",
        "Provider number of the practice (if it has one)",
        "Provider number",
        false,
        "e.g. 2426621B",
        "off",
    ),
];

const PERSON_FIELDS: &[Field] = &[
    Field::text(
        "title",
        "Title (if you use one)",
        "Title",
        false,
        "e.g. Dr",
        "honorific-prefix",
    ),
    Field::text(
        "given_name",
        "Given name",
        "Given name",
        true,
        "",
        "given-name",
    ),
    Field::text(
        "family_name",
        "Family name",
        "Family name",
        true,
        "",
        "family-name",
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
        "Medicare provider number",
        "Provider number",
        true,
        "e.g. 2426621B",
        "off",
    ),
    Field::text(
        "ahpra",
        "AHPRA registration number",
        "AHPRA number",
        false,
        "e.g. MED0001234567",
        "off",
    ),
];

const ADDRESS_FIELDS: &[Field] = &[
    Field::text(
        "street",
        "Street address (the welcome letter is posted here)",
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
    Field::text("fax", "Fax (if you have one)", "Fax", false, "", "off"),
];

fn register_form(
    kind: AccountKind,
    csrf: &str,
    f: &RegisterForm,
    errors: &FormErrors,
    domain: &str,
) -> String {
    let value = |name: &str| -> String {
        match name {
            "organisation_name" => f.organisation_name.clone(),
            "title" => f.title.clone(),
            "given_name" => f.given_name.clone(),
            "family_name" => f.family_name.clone(),
            "specialty" => f.specialty.clone(),
            "provider_number" => f.provider_number.clone(),
            "ahpra" => f.ahpra.clone(),
            "street" => f.street.clone(),
            "suburb" => f.suburb.clone(),
            "postcode" => f.postcode.clone(),
            "phone" => f.phone.clone(),
            "fax" => f.fax.clone(),
            "mailbox" => f.mailbox.clone(),
            _ => String::new(),
        }
    };
    let fields = |list: &[Field]| -> String {
        list.iter()
            .map(|fd| fd.render(&value(fd.name), errors))
            .collect()
    };
    let (heading, who, slug) = match kind {
        AccountKind::Organisation => (
            "Register a practice or organisation",
            fields(ORGANISATION_FIELDS),
            "organisation",
        ),
        AccountKind::Individual => (
            "Register as a provider",
            fields(PERSON_FIELDS),
            "individual",
        ),
    };
    let category_required = kind == AccountKind::Organisation;
    let mut categories: Vec<(&str, &str)> = vec![(
        "",
        if category_required {
            "Choose one"
        } else {
            "None of these"
        },
    )];
    categories.extend(Category::ALL.iter().map(|c| (c.slug(), c.label())));
    let mut states: Vec<(&str, &str)> = vec![("", "Choose one")];
    states.extend(AuState::ALL.iter().map(|s| (s.code(), s.code())));
    let suggested = local_part_from_name(&f.name(kind));
    let mailbox_field = Field::text(
        "mailbox",
        "Your ATHEN address: the part before the @ (leave empty to have it made from the name)",
        "Address",
        false,
        "",
        "off",
    )
    .render(&value("mailbox"), errors);
    format!(
        "<h1>{heading}</h1>\n{}\
<p>Fields marked <abbr title=\"required\">*</abbr> are needed. What you enter here (but not your password) \
is shown in the public directory once the account is confirmed.</p>\n\
<form method=\"post\" action=\"/register/{slug}\" novalidate>\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
<fieldset><legend>Who you are</legend>\n{who}{}</fieldset>\n\
<fieldset><legend>Where you are</legend>\n{}{}{}</fieldset>\n\
<fieldset><legend>Your address and password</legend>\n{mailbox_field}\
<p class=\"hint\">Letters will reach you at <strong>{}@{}</strong>.</p>\n{}{}</fieldset>\n\
<button type=\"submit\">Register</button>\n</form>",
        errors.summary(),
        escape(csrf),
        Select {
            id: "category",
            label: if category_required {
                "Kind of service *"
            } else {
                "Kind of service"
            },
            check: "Category",
            required: category_required,
        }
        .render(&categories, &f.category, errors),
        fields(&ADDRESS_FIELDS[..2]),
        Select {
            id: "state",
            label: "State or territory *",
            check: "State",
            required: true,
        }
        .render(&states, &f.state, errors),
        fields(&ADDRESS_FIELDS[2..]),
        escape(if f.mailbox.trim().is_empty() {
            if suggested.is_empty() {
                "your.name"
            } else {
                &suggested
            }
        } else {
            f.mailbox.trim()
        }),
        escape(domain),
        Field::password(
            "password",
            "Password (at least 10 characters) *",
            "Password",
            "new-password"
        )
        .render("", errors),
        Field::password(
            "password_again",
            "The same password again *",
            "Password again",
            "new-password"
        )
        .render("", errors),
    )
}

/// `GET /register/{kind}`
pub(crate) async fn form(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path(kind): Path<String>,
) -> Response {
    let Some(kind) = kind_of(&kind) else {
        return crate::pages::not_found().await.into_response();
    };
    let (csrf, cookie) = match forms::public_csrf(&headers) {
        Ok(x) => x,
        Err(e) => return forms::server_error("form", e),
    };
    let body = register_form(
        kind,
        &csrf,
        &RegisterForm::default(),
        &FormErrors::default(),
        &state.domain,
    );
    forms::with_cookie(Html(layout("Register", &body)).into_response(), cookie)
}

/// `POST /register/{kind}`: the account, then the recovery code page.
pub(crate) async fn submit(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    Path(kind): Path<String>,
    Form(f): Form<RegisterForm>,
) -> Response {
    let Some(kind) = kind_of(&kind) else {
        return crate::pages::not_found().await.into_response();
    };
    if !forms::public_csrf_ok(&headers, &f.csrf) {
        return forms::form_expired(&format!("/register/{}", kind.as_str()));
    }
    let accounts = match services(&state) {
        Ok(a) => a,
        Err(res) => return *res,
    };
    let again = |status: StatusCode, errors: FormErrors| {
        (
            status,
            Html(layout(
                "Register",
                &register_form(kind, &f.csrf, &f, &errors, &state.domain),
            )),
        )
            .into_response()
    };
    let mut errors = FormErrors::default();
    for (value, field) in [
        (&f.street, "Street"),
        (&f.suburb, "Suburb"),
        (&f.state, "State"),
        (&f.postcode, "Postcode"),
        (&f.phone, "Phone"),
    ] {
        if value.trim().is_empty() {
            errors.add(field, "is needed");
        }
    }
    match kind {
        AccountKind::Organisation if f.category.trim().is_empty() => {
            errors.add("Category", "is needed")
        }
        AccountKind::Individual => {
            if f.given_name.trim().is_empty() {
                errors.add("Given name", "is needed");
            }
            if f.provider_number.trim().is_empty() {
                errors.add("Provider number", "is needed");
            }
        }
        _ => {}
    }
    if f.password != f.password_again {
        errors.add("Password again", "is not the same as the password");
    }
    let local = match opt(&f.mailbox) {
        Some(m) => m.to_ascii_lowercase(),
        None => local_part_from_name(&f.name(kind)),
    };
    if local.is_empty() && !f.name(kind).trim().is_empty() {
        errors.add(
            "Address",
            "could not be made from the name: please choose one (letters, digits, dots)",
        );
    } else if !local.is_empty()
        && (local.len() > 64
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || !local
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_'))
    {
        errors.add("Address", "may use small letters, digits, dots and _ only, up to 64, and not begin or end with a dot");
    }
    let reg = Registration {
        kind,
        address: format!("{local}@{}", state.domain),
        entry: f.entry(kind),
    };
    // The validators' own checks too, so every problem shows at once.
    if let Err(problems) = reg.entry.validate(match kind {
        AccountKind::Organisation => athen_core::directory::EntryRole::Organisation,
        AccountKind::Individual => athen_core::directory::EntryRole::Individual,
    }) {
        for p in problems {
            errors.add(p.field, &p.reason);
        }
    }
    if let Err(p) = athen_vault::provision::check_new_password(&f.password) {
        errors.add("Password", &p.reason);
    }
    if !errors.is_empty() {
        return again(StatusCode::UNPROCESSABLE_ENTITY, errors);
    }
    let source = peer.map(|p| p.0.0.ip());
    let now = state.clock.now();
    if let Err(VaultError::Throttled { retry_after_secs }) =
        accounts.register_throttle.check("", source, now)
    {
        errors.add(
            "",
            &format!(
                "Too many registrations from this network in the last hour. Please try again in {} minute(s).",
                retry_after_secs.div_ceil(60)
            ),
        );
        return again(StatusCode::TOO_MANY_REQUESTS, errors);
    }
    let done = match accounts::register(
        accounts.store.as_ref(),
        state.clock.as_ref(),
        &reg,
        &f.password,
        state.kdf,
    )
    .await
    {
        Ok(d) => d,
        Err(AccountError::Invalid(problems)) => {
            for p in problems {
                errors.add(p.field, &p.reason);
            }
            return again(StatusCode::UNPROCESSABLE_ENTITY, errors);
        }
        Err(AccountError::Store(athen_core::StoreError::Conflict(_))) => {
            // Counted like a registration, so that trying addresses to see
            // which are taken is as slow as registering (issue 20).
            accounts.register_throttle.failed("", source, now);
            errors.add(
                "Address",
                &format!(
                    "{} is already taken: please choose another (for example with your suburb)",
                    reg.address
                ),
            );
            return again(StatusCode::CONFLICT, errors);
        }
        Err(e) => return forms::server_error("registration", e),
    };
    accounts.register_throttle.failed("", source, now);
    if let Err(e) = accounts::keep_welcome_letter(
        accounts.store.as_ref(),
        state.clock.as_ref(),
        &accounts.letters_key,
        done.created.account_id,
        &done.confirmation_code,
        ACTOR,
    )
    .await
    {
        // The account exists; the administrator can make a new letter.
        tracing::error!(error = %e, account = %done.created.account_id, "welcome letter not kept");
    }
    let body = format!(
        "<h1>Your account is ready</h1>\n\
<p>Your ATHEN address is <strong>{address}</strong>. Sign in with it and your password.</p>\n\
<section class=\"recovery\" aria-labelledby=\"rc\">\n<h2 id=\"rc\">Your recovery code</h2>\n\
<p>If the password is ever lost, this code is the only way back into your mail: the server cannot read \
your mail, so nobody can reset it for you without losing what is in it.</p>\n\
<p class=\"code\">{code}</p>\n\
<p><strong>Print this page or write the code down now and keep it somewhere safe, away from the computer.</strong> \
It is shown only this once.</p>\n</section>\n\
<h2>What happens next</h2>\n<ol>\n<li>We post a welcome letter to the street address you gave.</li>\n\
<li>When it arrives, <a href=\"/confirm\">enter the confirmation code</a> from the letter.</li>\n\
<li>You are then listed in the directory, so other providers can find you, and can write to other mail servers.</li>\n</ol>\n\
<p>You can <a href=\"/login\">sign in</a> and use your mail already. Until you have entered the code, you can write only \
to users of this server, and they see that your account is not confirmed yet.</p>",
        address = escape(&done.address),
        code = escape(&done.recovery_code),
    );
    Html(layout("Your account is ready", &body)).into_response()
}

#[derive(Deserialize, Default)]
pub(crate) struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    code: String,
}

fn confirm_form(csrf: &str, address: &str, errors: &FormErrors) -> String {
    format!(
        "<h1>Confirm your account</h1>\n{}\
<p>Enter your ATHEN address and the confirmation code printed in the welcome letter we posted to you.</p>\n\
<form method=\"post\" action=\"/confirm\" novalidate>\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n{}{}\
<button type=\"submit\">Confirm</button>\n</form>",
        errors.summary(),
        escape(csrf),
        Field::text(
            "address",
            "Your ATHEN address *",
            "Address",
            true,
            "e.g. northside.medical.centre@…",
            "username"
        )
        .render(address, errors),
        Field::text(
            "code",
            "Confirmation code from the letter *",
            "Confirmation code",
            true,
            "10 letters and digits",
            "one-time-code"
        )
        .render("", errors),
    )
}

/// `GET /confirm`
pub(crate) async fn confirm_page(headers: HeaderMap) -> Response {
    let (csrf, cookie) = match forms::public_csrf(&headers) {
        Ok(x) => x,
        Err(e) => return forms::server_error("form", e),
    };
    let body = confirm_form(&csrf, "", &FormErrors::default());
    forms::with_cookie(
        Html(layout("Confirm your account", &body)).into_response(),
        cookie,
    )
}

/// `POST /confirm`: the code from the letter confirms the account.
/// Wrong codes are throttled per address and per client address, and an
/// unknown address is answered as a wrong code (no enumeration).
pub(crate) async fn confirm_submit(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    Form(f): Form<ConfirmForm>,
) -> Response {
    if !forms::public_csrf_ok(&headers, &f.csrf) {
        return forms::form_expired("/confirm");
    }
    let accounts = match services(&state) {
        Ok(a) => a,
        Err(res) => return *res,
    };
    let address = f.address.trim().to_ascii_lowercase();
    let again = |status: StatusCode, errors: FormErrors| {
        (
            status,
            Html(layout(
                "Confirm your account",
                &confirm_form(&f.csrf, &address, &errors),
            )),
        )
            .into_response()
    };
    let mut errors = FormErrors::default();
    if address.is_empty() {
        errors.add("Address", "is needed");
    }
    if f.code.trim().is_empty() {
        errors.add("Confirmation code", "is needed");
    }
    if !errors.is_empty() {
        return again(StatusCode::UNPROCESSABLE_ENTITY, errors);
    }
    let source = peer.map(|p| p.0.0.ip());
    let now = state.clock.now();
    if let Err(VaultError::Throttled { retry_after_secs }) =
        accounts.confirm_throttle.check(&address, source, now)
    {
        errors.add(
            "",
            &format!(
                "Too many codes that did not work. Please wait {} minute(s) and try again.",
                retry_after_secs.div_ceil(60)
            ),
        );
        return again(StatusCode::TOO_MANY_REQUESTS, errors);
    }
    let store = accounts.store.as_ref();
    let account = match store.account_by_address(&address).await {
        Ok(a) => a,
        Err(e) => return forms::server_error("confirmation", e),
    };
    let code = f.code.trim().to_ascii_uppercase().replace([' ', '-'], "");
    let matches = match &account {
        Some(a) => match store.confirmation_hash(a.id).await {
            Ok(h) => h.is_some_and(|h| codes::code_matches(&code, &h)),
            Err(e) => return forms::server_error("confirmation", e),
        },
        None => false,
    };
    let Some(account) = account.filter(|_| matches) else {
        accounts.confirm_throttle.failed(&address, source, now);
        errors.add(
            "Confirmation code",
            "is not right for this address. Check both against the letter and try again.",
        );
        return again(StatusCode::UNPROCESSABLE_ENTITY, errors);
    };
    accounts.confirm_throttle.succeeded(&address);
    let message = match account.status {
        AccountStatus::Provisional => {
            if let Err(e) = athen_core::lifecycle::change_status(
                store,
                state.clock.as_ref(),
                &account,
                StatusAction::Confirm,
                ACTOR,
                "with the code from the welcome letter",
            )
            .await
            {
                return forms::server_error("confirmation", e);
            }
            "Your account is confirmed. You are now listed in the directory, so other providers can find you and write to you."
        }
        AccountStatus::Confirmed => "This account was already confirmed. Nothing needed doing.",
        _ => {
            "This account is suspended or closed; the code cannot change that. Please contact the administrator."
        }
    };
    Html(layout(
        "Account confirmed",
        &format!(
            "<h1>Thank you</h1>\n<p role=\"status\">{}</p>\n<p><a href=\"/login\">Sign in</a> · <a href=\"/directory\">Find a provider</a></p>",
            escape(message)
        ),
    ))
    .into_response()
}
