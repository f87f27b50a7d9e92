//! Writing a letter in the browser: who to (typed, or picked from the
//! directory), the patient it is about, the text, attachments, and whether
//! to ask for a read receipt. The letter then goes the way mail from
//! Outlook goes ([`athen_mail::submit::Submitter`]): checked, followed in
//! the trail, queued or delivered, and copied to Sent.
//!
//! The patient details are written twice (`athen_clinical::compose`): in
//! the `X-Athen-Patient` header, which the receiving ATHEN trusts first,
//! and in the subject, `[SURNAME, Given (S) DOB:…] subject`, which people
//! and other systems read.

use crate::WebState;
use crate::app::{Caller, MailServices};
use crate::forms::{Field, FormErrors, Select};
use crate::layout::error_page;
use crate::layout::escape;
use crate::layout::signed_in_layout;
use crate::session::SignedIn;
use athen_clinical::compose::PatientInput;
use athen_clinical::date::Date;
use athen_core::identifiers::{State as AuState, email_address};
use athen_core::mailbox::{SpecialFolder, flags};
use athen_mail::submit::{SendAs, SendError};
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use mail_parser::{MessageParser, MimeHeaders};
use serde::Deserialize;
use std::sync::Arc;
use zeroize::Zeroizing;

/// At most this many attachments, each at most this large: letters, scans
/// and results, not archives.
const MAX_ATTACHMENTS: usize = 10;
const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// The whole form (the body limit of the compose route).
pub(crate) const MAX_FORM_BYTES: usize = 26 * 1024 * 1024;

/// The kinds of file a letter may carry, by name ending, with the type sent.
const ATTACHMENT_TYPES: &[(&str, &str)] = &[
    ("pdf", "application/pdf"),
    ("rtf", "application/rtf"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("doc", "application/msword"),
    ("odt", "application/vnd.oasis.opendocument.text"),
    ("txt", "text/plain"),
    ("hl7", "application/edi-hl7"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
];

/// The compose form as filled in.
#[derive(Default)]
struct Letter {
    csrf: String,
    to: String,
    subject: String,
    body: Zeroizing<String>,
    patient: PatientInput,
    receipt: bool,
    in_reply_to: String,
    attachments: Vec<(String, &'static str, Zeroizing<Vec<u8>>)>,
    /// `send` or `draft`: which button was pressed.
    action: String,
    /// `Folder/uid` of a stored letter whose files come along (the letter
    /// forwarded, or the draft continued), and which of them (`keep`).
    carry: String,
    keep: Vec<usize>,
    /// The files of `carry`, for the form: index, name, size.
    carried: Vec<(usize, String, usize)>,
    /// `Drafts/uid` of the draft this letter continues: replaced when the
    /// draft is saved again, removed when the letter is sent.
    draft: String,
    /// The files of `carry` that go with the letter.
    kept: Vec<(String, &'static str, Zeroizing<Vec<u8>>)>,
}

#[derive(Deserialize, Default)]
pub(crate) struct ComposeQuery {
    #[serde(default)]
    to: String,
    /// `Folder/uid` of the letter answered.
    #[serde(default)]
    reply: String,
    /// `Folder/uid` of the letter passed on.
    #[serde(default)]
    forward: String,
    /// `Drafts/uid` of the draft to go on with.
    #[serde(default)]
    draft: String,
}

/// The header a draft keeps what was typed in, as parameters (the
/// patient fields unchecked, as they were left).
const DRAFT_HEADER: &str = "X-Athen-Draft";

const PATIENT_FIELDS: &[Field] = &[
    Field::text(
        "family_name",
        "Family name",
        "Family name",
        false,
        "",
        "off",
    ),
    Field::text(
        "given_names",
        "Given names",
        "Given names",
        false,
        "",
        "off",
    ),
    Field::text(
        "birth_date",
        "Date of birth",
        "Date of birth",
        false,
        "dd/mm/yyyy",
        "off",
    ),
    Field::text("street", "Street", "Street", false, "", "off"),
    Field::text("suburb", "Suburb", "Suburb", false, "", "off"),
    Field::text("postcode", "Postcode", "Postcode", false, "", "off"),
    Field::text(
        "medicare",
        "Medicare number (with the person's number on the card, if known)",
        "Medicare number",
        false,
        "e.g. 2123 45670 1",
        "off",
    ),
];

fn form(c: &Caller, l: &Letter, errors: &FormErrors, note: &str) -> String {
    let p = &l.patient;
    let value = |name: &str| -> &str {
        match name {
            "family_name" => &p.family_name,
            "given_names" => &p.given_names,
            "birth_date" => &p.birth_date,
            "street" => &p.street,
            "suburb" => &p.suburb,
            "postcode" => &p.postcode,
            "medicare" => &p.medicare,
            _ => "",
        }
    };
    let text = |name: &str| -> String {
        PATIENT_FIELDS
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.render(value(f.name), errors))
            .unwrap_or_default()
    };
    let select = |id: &str, label: &str, options: &[(&str, &str)], chosen: &str| {
        Select {
            id,
            label,
            check: label,
            required: false,
        }
        .render(options, chosen, errors)
    };
    let sexes = [
        ("", "Not given"),
        ("F", "Female"),
        ("M", "Male"),
        ("O", "Other"),
        ("U", "Not known"),
    ];
    let mut states: Vec<(&str, &str)> = vec![("", "Not given")];
    states.extend(AuState::ALL.iter().map(|s| (s.code(), s.code())));
    let accept: Vec<String> = ATTACHMENT_TYPES
        .iter()
        .map(|(ext, _)| format!(".{ext}"))
        .collect();
    let to_field = Field::text(
        "to",
        "To (ATHEN or e-mail addresses, separated by commas)",
        "To",
        true,
        "start typing a name or address",
        "off",
    )
    .render(&l.to, errors)
    .replacen("<input ", "<input list=\"directory-suggestions\" ", 1);
    format!(
        "<h1>Write a letter</h1>\n{}{note}\
<form method=\"post\" action=\"/compose\" enctype=\"multipart/form-data\" novalidate>\n\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n<input type=\"hidden\" name=\"in_reply_to\" value=\"{}\">\n\
<input type=\"hidden\" name=\"carry\" value=\"{}\">\n<input type=\"hidden\" name=\"draft\" value=\"{}\">\n\
{to_field}<datalist id=\"directory-suggestions\"></datalist>\n\
<p class=\"hint\">Not sure of the address? <a href=\"/directory\" target=\"_blank\" rel=\"noopener\">Look it up in the directory</a> (opens in a new tab).</p>\n\
<fieldset><legend>Patient this letter is about (leave empty if none)</legend>\n{}{}{}{}{}{}{}{}{}</fieldset>\n\
{}<label for=\"body\">Letter</label><textarea id=\"body\" name=\"body\" rows=\"14\">{}</textarea>\n\
<label for=\"attachments\">Attach files (PDF, Word, RTF, text, HL7, pictures; up to {MAX_ATTACHMENTS}, each up to 10 MB)</label>\
{}<input id=\"attachments\" name=\"attachments\" type=\"file\" multiple accept=\"{}\">\n{}\
<p><input type=\"checkbox\" id=\"receipt\" name=\"receipt\" value=\"yes\"{}> <label class=\"inline\" for=\"receipt\">Ask for a read receipt</label></p>\n\
<button type=\"submit\" name=\"action\" value=\"send\">Send</button> <button type=\"submit\" name=\"action\" value=\"draft\">Save as draft</button>\n</form>\n<script src=\"/compose.js\" defer></script>",
        errors.summary(),
        escape(&crate::layout::csrf_of(&c.token)),
        escape(&l.in_reply_to),
        escape(&l.carry),
        escape(&l.draft),
        text("family_name"),
        text("given_names"),
        select("sex", "Sex", &sexes, &p.sex),
        text("birth_date"),
        text("street"),
        text("suburb"),
        select("state", "State", &states, &p.state),
        text("postcode"),
        text("medicare"),
        Field::text(
            "subject",
            "Subject",
            "Subject",
            true,
            "e.g. Referral: chest pain",
            "off"
        )
        .render(&l.subject, errors),
        escape(&l.body),
        errors
            .for_field("Attachments")
            .map(|e| format!("<span class=\"error\">{}</span>", escape(&e)))
            .unwrap_or_default(),
        accept.join(","),
        carried_files(l),
        if l.receipt { " checked" } else { "" },
    )
}

/// The files that come with the letter from the one forwarded or the
/// draft, each with a box to leave it out.
fn carried_files(l: &Letter) -> String {
    if l.carried.is_empty() {
        return String::new();
    }
    let boxes: String = l
        .carried
        .iter()
        .map(|(n, name, size)| {
            format!(
                "<li><input type=\"checkbox\" id=\"keep-{n}\" name=\"keep\" value=\"{n}\"{}> \
<label class=\"inline\" for=\"keep-{n}\">{} ({size} bytes)</label></li>",
                if l.keep.contains(n) { " checked" } else { "" },
                escape(name),
            )
        })
        .collect();
    format!(
        "<fieldset><legend>Files already with this letter (untick to leave one out)</legend><ul class=\"plain\">{boxes}</ul></fieldset>\n"
    )
}

/// `GET /compose`: an empty letter, an answer to one (`?reply=Inbox/3`),
/// one passed on (`?forward=Inbox/3`), a draft to go on with
/// (`?draft=Drafts/2`), or one to an address picked in the directory
/// (`?to=…`).
pub(crate) async fn page(
    SignedIn { mail, caller: c }: SignedIn,
    Query(q): Query<ComposeQuery>,
) -> Response {
    let mail = &*mail;
    let mut l = Letter {
        to: q.to.trim().chars().take(500).collect(),
        receipt: true,
        ..Letter::default()
    };
    let filled = if !q.reply.is_empty() {
        answer(mail, &c, &q.reply, &mut l).await
    } else if !q.forward.is_empty() {
        pass_on(mail, &c, &q.forward, &mut l).await
    } else if !q.draft.is_empty() {
        go_on_with(mail, &c, &q.draft, &mut l).await
    } else {
        Ok(())
    };
    if let Err(e) = filled {
        return error_page(e);
    }
    let body = form(&c, &l, &FormErrors::default(), "");
    Html(signed_in_layout(&c, "Write a letter", &body)).into_response()
}

/// A stored letter named `Folder/uid`, parsed: the letter answered,
/// passed on, or the draft continued.
async fn stored_letter(
    mail: &MailServices,
    c: &Caller,
    at: &str,
) -> Result<Zeroizing<Vec<u8>>, crate::app::ApiError> {
    let not_found = || crate::app::ApiError::new(StatusCode::NOT_FOUND, "there is no such letter");
    let (folder, uid) = at.split_once('/').ok_or_else(not_found)?;
    let uid: u32 = uid.parse().map_err(|_| not_found())?;
    let m = crate::letters::message_at(mail, c, folder, uid).await?;
    Ok(athen_mail::read::raw_message(mail.blobs.as_ref(), &c.secret, &m).await?)
}

fn unreadable(what: &str) -> crate::app::ApiError {
    crate::app::ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("that letter cannot be read, so it cannot be {what} here"),
    )
}

/// The subject with `prefix` ("Re:", "Fwd:") unless it has one already.
fn prefixed(prefix: &str, subject: &str) -> String {
    if subject
        .to_ascii_lowercase()
        .starts_with(&prefix.to_ascii_lowercase())
    {
        subject.to_string()
    } else {
        format!("{prefix} {subject}")
    }
}

/// Fills `l` as the answer to a stored letter: to its sender, the same
/// subject (and so the same patient) with "Re:", and the original quoted.
async fn answer(
    mail: &MailServices,
    c: &Caller,
    at: &str,
    l: &mut Letter,
) -> Result<(), crate::app::ApiError> {
    let raw = stored_letter(mail, c, at).await?;
    let parsed = MessageParser::default()
        .parse(&raw[..])
        .ok_or_else(|| unreadable("answered"))?;
    let reply_to = parsed
        .reply_to()
        .or_else(|| parsed.from())
        .and_then(|a| a.first())
        .and_then(|a| a.address.as_deref())
        .unwrap_or_default();
    l.to = reply_to.to_string();
    l.subject = prefixed("Re:", parsed.subject().unwrap_or_default());
    l.in_reply_to = parsed
        .message_id()
        .map(|id| format!("<{id}>"))
        .unwrap_or_default();
    let text = parsed.body_text(0).unwrap_or_default();
    let quoted: String = text
        .lines()
        .take(200)
        .map(|line| format!("> {line}\n"))
        .collect();
    *l.body = format!("\n\n{quoted}");
    Ok(())
}

/// The files a stored letter carries that its sender attached: not the
/// import files this server made for the practice's own clinical system
/// (named in `X-Athen-Converted`), which the next practice's server makes
/// for its own.
fn sender_files(parsed: &mail_parser::Message<'_>) -> Vec<(usize, String, Vec<u8>)> {
    let made_here: Vec<String> = parsed
        .header_values("X-Athen-Converted")
        .filter_map(|v| v.as_text())
        .filter_map(|v| v.split_once("file=").map(|(_, f)| f.trim().to_string()))
        .collect();
    parsed
        .attachments()
        .enumerate()
        .map(|(n, p)| {
            (
                n,
                p.attachment_name().unwrap_or("attachment").to_string(),
                p.contents().to_vec(),
            )
        })
        .filter(|(_, name, _)| !made_here.contains(name))
        .collect()
}

/// The sender's files of the stored letter `at` come with `l`, all ticked.
fn carry_all(l: &mut Letter, at: &str, parsed: &mail_parser::Message<'_>) {
    l.carry = at.to_string();
    l.carried = sender_files(parsed)
        .into_iter()
        .map(|(n, name, data)| (n, name, data.len()))
        .collect();
    l.keep = l.carried.iter().map(|(n, _, _)| *n).collect();
}

/// Fills `l` to pass a stored letter on: "Fwd:" subject (the patient stays
/// in it), the original's header lines and text, and its files.
async fn pass_on(
    mail: &MailServices,
    c: &Caller,
    at: &str,
    l: &mut Letter,
) -> Result<(), crate::app::ApiError> {
    let raw = stored_letter(mail, c, at).await?;
    let parsed = MessageParser::default()
        .parse(&raw[..])
        .ok_or_else(|| unreadable("passed on"))?;
    let meta = athen_mail::meta::extract(&raw);
    let subject = parsed.subject().unwrap_or_default();
    l.subject = prefixed("Fwd:", subject);
    *l.body = format!(
        "\n\n---------- Forwarded letter ----------\nFrom: {}\nDate: {}\nSubject: {subject}\nTo: {}\n\n{}",
        meta.from.join(", "),
        meta.date.as_deref().unwrap_or_default(),
        meta.to.join(", "),
        parsed.body_text(0).unwrap_or_default(),
    );
    carry_all(l, at, &parsed);
    Ok(())
}

/// Fills `l` from a saved draft: what was typed, and its files.
async fn go_on_with(
    mail: &MailServices,
    c: &Caller,
    at: &str,
    l: &mut Letter,
) -> Result<(), crate::app::ApiError> {
    if !at.starts_with(&format!("{}/", SpecialFolder::Drafts.name())) {
        return Err(crate::app::ApiError::new(
            StatusCode::NOT_FOUND,
            "only letters in Drafts can be written on",
        ));
    }
    let raw = stored_letter(mail, c, at).await?;
    let parsed = MessageParser::default()
        .parse(&raw[..])
        .ok_or_else(|| unreadable("written on"))?;
    let typed = parsed
        .header_raw(DRAFT_HEADER)
        .map(athen_clinical::extract::parameters)
        .unwrap_or_default();
    let p = &mut l.patient;
    for (k, v) in typed {
        match k.as_str() {
            "to" => l.to = v,
            "subject" => l.subject = v,
            "receipt" => l.receipt = v == "yes",
            "in_reply_to" => l.in_reply_to = v,
            "family_name" => p.family_name = v,
            "given_names" => p.given_names = v,
            "sex" => p.sex = v,
            "birth_date" => p.birth_date = v,
            "street" => p.street = v,
            "suburb" => p.suburb = v,
            "state" => p.state = v,
            "postcode" => p.postcode = v,
            "medicare" => p.medicare = v,
            _ => {}
        }
    }
    *l.body = parsed.body_text(0).unwrap_or_default().into_owned();
    l.draft = at.to_string();
    carry_all(l, at, &parsed);
    Ok(())
}

/// Reads the multipart form, keeping every field's value within bounds;
/// attachments are checked for kind, size and number.
async fn read_form(mut mp: Multipart, errors: &mut FormErrors) -> Result<Letter, String> {
    let mut l = Letter::default();
    while let Some(field) = mp.next_field().await.map_err(|e| e.body_text())? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "attachments" {
            let file_name = field.file_name().unwrap_or_default().to_string();
            let data = field.bytes().await.map_err(|e| e.body_text())?;
            if file_name.is_empty() && data.is_empty() {
                continue; // no file chosen
            }
            let safe: String = file_name
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_control() && !matches!(c, '"' | '\\'))
                .take(100)
                .collect();
            let ext = safe
                .rsplit_once('.')
                .map(|(_, e)| e.to_ascii_lowercase())
                .unwrap_or_default();
            match ATTACHMENT_TYPES.iter().find(|(e, _)| *e == ext) {
                None => errors.add(
                    "Attachments",
                    &format!("cannot include {safe}: only PDF, Word, RTF, text, HL7 and picture files can be sent"),
                ),
                Some(_) if data.len() > MAX_ATTACHMENT_BYTES => errors.add(
                    "Attachments",
                    &format!("cannot include {safe}: it is larger than 10 MB"),
                ),
                Some(_) if l.attachments.len() == MAX_ATTACHMENTS => errors.add(
                    "Attachments",
                    &format!("can be at most {MAX_ATTACHMENTS} files"),
                ),
                Some((_, ct)) => l.attachments.push((safe, ct, Zeroizing::new(data.to_vec()))),
            }
            continue;
        }
        let text = field.text().await.map_err(|e| e.body_text())?;
        let text: String = text.chars().take(200_000).collect();
        let p = &mut l.patient;
        match name.as_str() {
            "csrf" => l.csrf = text,
            "to" => l.to = text,
            "subject" => l.subject = text,
            "body" => *l.body = text,
            "receipt" => l.receipt = text == "yes",
            "in_reply_to" => l.in_reply_to = text,
            "action" => l.action = text,
            "carry" => l.carry = text,
            "draft" => l.draft = text,
            "keep" => {
                if let Ok(n) = text.parse() {
                    l.keep.push(n);
                }
            }
            "family_name" => p.family_name = text,
            "given_names" => p.given_names = text,
            "sex" => p.sex = text,
            "birth_date" => p.birth_date = text,
            "street" => p.street = text,
            "suburb" => p.suburb = text,
            "state" => p.state = text,
            "postcode" => p.postcode = text,
            "medicare" => p.medicare = text,
            _ => {}
        }
    }
    Ok(l)
}

/// `POST /compose`: checks the letter, then sends it; the Sent folder
/// shows it with its status.
pub(crate) async fn send(
    State(state): State<Arc<WebState>>,
    SignedIn { mail, caller: c }: SignedIn,
    mp: Multipart,
) -> Response {
    let mail = &*mail;
    let mut errors = FormErrors::default();
    let mut l = match read_form(mp, &mut errors).await {
        Ok(l) => l,
        Err(e) => {
            return error_page(crate::app::ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the form could not be read: {e}"),
            ));
        }
    };
    if !crate::forms::same(&l.csrf, &crate::layout::csrf_of(&c.token)) {
        return crate::layout::forbidden();
    }
    let again = |l: &Letter, errors: &FormErrors, status: StatusCode| {
        let note = if l.attachments.is_empty() {
            ""
        } else {
            "<p role=\"status\">Please choose the files to attach again: browsers do not keep them when a form comes back.</p>\n"
        };
        (
            status,
            Html(signed_in_layout(
                &c,
                "Write a letter",
                &form(&c, l, errors, note),
            )),
        )
            .into_response()
    };
    if !l.carry.is_empty() {
        if let Err(e) = bring_along(mail, &c, &mut l).await {
            return error_page(e);
        }
        if l.attachments.len() + l.kept.len() > MAX_ATTACHMENTS {
            errors.add(
                "Attachments",
                &format!("can be at most {MAX_ATTACHMENTS} files"),
            );
        }
    }
    if l.action == "draft" && errors.is_empty() {
        return match save_draft(mail, &c, &l, state.clock.now()).await {
            Ok(()) => crate::layout::see_other("/mail/Drafts?saved=1"),
            Err(e) => error_page(e),
        };
    }
    let (recipients, bad) = recipients(&l.to);
    for a in bad {
        errors.add("To", &format!("has an address that is not right: {a}"));
    }
    if recipients.is_empty() && errors.for_field("To").is_none() {
        errors.add("To", "is needed: who should receive the letter?");
    }
    if recipients.len() > 50 {
        errors.add("To", "can have at most 50 addresses");
    }
    let today = Date::from_unix(state.clock.now());
    let patient = if l.patient.is_empty() {
        None
    } else {
        match l.patient.validate(today) {
            Ok(p) => Some(p),
            Err(problems) => {
                for p in problems {
                    errors.add(p.field, &p.reason);
                }
                None
            }
        }
    };
    let subject = l.subject.split_whitespace().collect::<Vec<_>>().join(" ");
    if subject.is_empty() && patient.is_none() {
        errors.add("Subject", "is needed");
    }
    if subject.chars().count() > 200 {
        errors.add("Subject", "must be at most 200 characters");
    }
    if !errors.is_empty() {
        return again(&l, &errors, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let message = match build(
        mail,
        &c,
        &l,
        &recipients,
        &subject,
        patient.as_ref(),
        state.clock.now(),
    ) {
        Ok(m) => m,
        Err(e) => return crate::forms::server_error("compose", e),
    };
    let Some(submitter) = &mail.submitter else {
        errors.add("", "This server cannot send mail at the moment.");
        return again(&l, &errors, StatusCode::SERVICE_UNAVAILABLE);
    };
    let sent = submitter
        .send(
            SendAs {
                address: &c.account.address,
                mailbox: c.account.mailbox_id,
                login: &c.session.login_name,
                secret: &c.secret,
                ask_receipt: l.receipt,
            },
            &recipients,
            &message,
        )
        .await;
    match sent {
        Ok(_) => {
            if let Err(e) = drop_draft(mail, &c, &l.draft).await {
                // Sent all the same; the draft stays to be deleted by hand.
                tracing::warn!(error = %e.message, "draft of a sent letter not removed");
            }
            crate::layout::see_other("/mail/Sent?sent=1")
        }
        Err(SendError::Recipient { address, reason }) => {
            errors.add("To", &format!("cannot be sent to {address}: {reason}"));
            again(&l, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(SendError::Refused(reason)) => {
            errors.add("", &format!("The letter was not sent: {reason}"));
            l.attachments.clear();
            again(&l, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(SendError::Temporary(reason)) => {
            tracing::warn!(reason = %reason, "web letter not sent; temporary");
            errors.add(
                "",
                "The letter was not sent because of a passing problem on the server. Please press Send again in a minute.",
            );
            again(&l, &errors, StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

/// The addresses in a To field (commas or semicolons between them; "Name
/// <address>" as a directory pick gives it), each once, and those that
/// are not addresses.
fn recipients(to: &str) -> (Vec<String>, Vec<String>) {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for a in to
        .split([',', ';'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        let bare = a
            .rsplit_once('<')
            .map(|(_, r)| r.trim_end_matches('>'))
            .unwrap_or(a);
        match email_address(bare) {
            Ok(addr) if !good.contains(&addr) => good.push(addr),
            Ok(_) => {}
            Err(_) => bad.push(a.to_string()),
        }
    }
    (good, bad)
}

/// Loads the files of `l.carry` that `l.keep` names into `l.kept`, and
/// lists them all in `l.carried` for the form.
async fn bring_along(
    mail: &MailServices,
    c: &Caller,
    l: &mut Letter,
) -> Result<(), crate::app::ApiError> {
    let raw = stored_letter(mail, c, &l.carry).await?;
    let parsed = MessageParser::default()
        .parse(&raw[..])
        .ok_or_else(|| unreadable("passed on"))?;
    for (n, name, data) in sender_files(&parsed) {
        l.carried.push((n, name.clone(), data.len()));
        if l.keep.contains(&n) {
            let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
            let ct = ATTACHMENT_TYPES
                .iter()
                .find(|(e, _)| Some(*e) == ext.as_deref())
                .map(|(_, ct)| *ct)
                .unwrap_or("application/octet-stream");
            l.kept.push((name, ct, Zeroizing::new(data)));
        }
    }
    Ok(())
}

/// Files what was typed in Drafts (replacing the draft it continues): a
/// real message to whoever is named so far, with the form's fields,
/// unchecked, in [`DRAFT_HEADER`].
async fn save_draft(
    mail: &MailServices,
    c: &Caller,
    l: &Letter,
    now: athen_core::clock::UnixTime,
) -> Result<(), crate::app::ApiError> {
    let p = &l.patient;
    let receipt = if l.receipt { "yes" } else { "no" };
    let typed: Vec<String> = [
        ("to", l.to.as_str()),
        ("subject", &l.subject),
        ("receipt", receipt),
        ("in_reply_to", &l.in_reply_to),
        ("family_name", &p.family_name),
        ("given_names", &p.given_names),
        ("sex", &p.sex),
        ("birth_date", &p.birth_date),
        ("street", &p.street),
        ("suburb", &p.suburb),
        ("state", &p.state),
        ("postcode", &p.postcode),
        ("medicare", &p.medicare),
    ]
    .iter()
    .filter(|(_, v)| !v.is_empty())
    // Each folded line stays well inside RFC 5322's 998 characters.
    .map(|(k, v)| athen_clinical::compose::parameter(k, &v.chars().take(250).collect::<String>()))
    .collect();
    let (to, _) = recipients(&l.to);
    let id = athen_mail::random_id()
        .map_err(|e| crate::app::ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut b = MessageBuilder::new()
        .message_id(format!("{id}@{}", mail.hostname))
        .date(mail_builder::headers::date::Date::new(now))
        .from((c.account.name.clone(), c.account.address.clone()))
        .subject(l.subject.clone())
        .header(DRAFT_HEADER, Raw::new(typed.join(";\r\n\t")))
        .text_body(l.body.replace("\r\n", "\n"));
    if !to.is_empty() {
        b = b.to(to
            .into_iter()
            .map(|a| mail_builder::headers::address::Address::new_address(None::<&str>, a))
            .collect::<Vec<_>>());
    }
    for (name, ct, data) in l.attachments.iter().chain(&l.kept) {
        b = b.attachment(*ct, name.clone(), data.to_vec());
    }
    let raw = b
        .write_to_vec()
        .map(Zeroizing::new)
        .map_err(|e| crate::app::ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    athen_mail::submit::store_in_folder(
        mail.blobs.as_ref(),
        mail.store.as_ref(),
        c.session.mailbox_id,
        &c.secret,
        (SpecialFolder::Drafts, flags::DRAFT | flags::SEEN),
        &raw,
        now,
    )
    .await?;
    drop_draft(mail, c, &l.draft).await
}

/// Removes the draft `Drafts/uid` a letter continued, now saved anew or
/// sent. Nothing to do for a letter not begun as a draft.
async fn drop_draft(mail: &MailServices, c: &Caller, at: &str) -> Result<(), crate::app::ApiError> {
    let Some(uid) = at
        .strip_prefix(&format!("{}/", SpecialFolder::Drafts.name()))
        .and_then(|u| u.parse::<u32>().ok())
    else {
        return Ok(());
    };
    match crate::letters::message_at(mail, c, SpecialFolder::Drafts.name(), uid).await {
        Ok(m) => crate::letters::delete_for_good(mail, c, &m).await,
        // Gone already (the form was sent twice): nothing left to do.
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(()),
        Err(e) => Err(e),
    }
}

/// The RFC 5322 message: our Message-ID and Date (not the machine's name),
/// the patient in header and subject, the text and the attachments.
fn build(
    mail: &MailServices,
    c: &Caller,
    l: &Letter,
    to: &[String],
    subject: &str,
    patient: Option<&athen_clinical::compose::PatientDetails>,
    now: athen_core::clock::UnixTime,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let id = athen_mail::random_id().map_err(|e| e.to_string())?;
    let full_subject = match patient {
        Some(p) => p.subject(subject),
        None => subject.to_string(),
    };
    let mut b = MessageBuilder::new()
        .message_id(format!("{id}@{}", mail.hostname))
        .date(mail_builder::headers::date::Date::new(now))
        .from((c.account.name.clone(), c.account.address.clone()))
        .to(to
            .iter()
            .map(|a| mail_builder::headers::address::Address::new_address(None::<&str>, a.clone()))
            .collect::<Vec<_>>())
        .subject(full_subject)
        .text_body(l.body.replace("\r\n", "\n"));
    if !l.in_reply_to.is_empty() && l.in_reply_to.len() < 1000 {
        let bare = l.in_reply_to.trim_matches(['<', '>']).to_string();
        b = b.in_reply_to(bare.clone()).references(bare);
    }
    if let Some(p) = patient {
        // ASCII already, folded between parameters: written as it is.
        b = b.header("X-Athen-Patient", Raw::new(p.header()));
    }
    for (name, ct, data) in l.attachments.iter().chain(&l.kept) {
        b = b.attachment(*ct, name.clone(), data.to_vec());
    }
    b.write_to_vec()
        .map(Zeroizing::new)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patient_header_reads_back_through_mail_parser() {
        let p = PatientInput {
            family_name: "Müller".into(),
            given_names: "Sean".into(),
            sex: "M".into(),
            birth_date: "01/02/1960".into(),
            street: "12 Main St".into(),
            suburb: "Northside".into(),
            state: "NSW".into(),
            postcode: "2000".into(),
            medicare: "2123 45670 1".into(),
        }
        .validate(Date::new(2026, 12, 1).unwrap())
        .unwrap();
        let raw = MessageBuilder::new()
            .from("a@b.example")
            .header("X-Athen-Patient", Raw::new(p.header()))
            .text_body("x")
            .write_to_vec()
            .unwrap();
        let parsed = MessageParser::default().parse(&raw[..]).unwrap();
        let got = parsed.header("X-Athen-Patient").and_then(|h| h.as_text());
        // The receiving ATHEN's reader, given the header as mail-parser hands it over.
        let x = athen_clinical::extract::extract(
            got,
            None,
            &athen_clinical::document::Body::default(),
            &athen_clinical::extract::Context {
                today: Date::new(2026, 12, 1).unwrap(),
                author: None,
                recipient: None,
                sent: None,
            },
        );
        let name = x.patient.family_name.map(|f| f.value);
        assert_eq!(
            name.as_deref(),
            Some("Müller"),
            "{}",
            String::from_utf8_lossy(&raw)
        );
        let medicare = x.patient.medicare.map(|m| m.value.number);
        assert_eq!(medicare.as_deref(), Some("2123456701"));
        assert_eq!(
            x.patient
                .address
                .and_then(|a| a.value.state)
                .map(|s| s.code()),
            Some("NSW")
        );
    }
}
