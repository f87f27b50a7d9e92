//! The signed-in web app, first part: signing in and out, folders, reading
//! a letter with its attachments (the converted HL7/PIT file among them),
//! and a letter's printable timeline. Server-rendered, no scripts.
//!
//! Sessions are the vault's (the same as the API's): the token travels in
//! a `__Host-` cookie (Secure, HttpOnly, SameSite=Strict, Path=/), a new
//! one at every sign-in. Every form carries a CSRF token: before sign-in a
//! random value also set as a cookie (double submit), after sign-in one
//! derived from the session token, which no other site can read.

use crate::WebState;
use crate::app::{ApiError, Caller, MailServices};
use crate::layout::{error_page, escape, see_other, signed_in_layout};
use crate::letter_view::{self, LetterBody};
use athen_core::clock::rfc3339;
use athen_core::mailbox::SpecialFolder;
use athen_mail::audit::{self, EventKind};
use athen_mail::read;
use athen_mail::status::LetterStatus;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use mail_parser::{MessageParser, MimeHeaders};
use serde::Deserialize;
use std::sync::Arc;

use crate::layout::csrf_of;
use crate::session::{CsrfForm, SignedIn, SignedInForm};
const PAGE: u32 = 50;

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    before: Option<String>,
    /// Set by the compose page after sending, or saving a draft.
    sent: Option<String>,
    saved: Option<String>,
}

/// `GET /mail/{folder}`: a page of the folder, newest first.
pub(crate) async fn folder(
    SignedIn { mail, caller: c }: SignedIn,
    Path(folder): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let mail = &*mail;
    let result = async {
        let f = crate::letters::folder_of(mail, &c, &folder).await?;
        let before = q
            .before
            .as_deref()
            .map(crate::letters::parse_cursor)
            .transpose()?;
        let mut live = mail.live.opened(&c.account, &c.secret);
        if f.name == SpecialFolder::Inbox.name() {
            let wait = std::time::Duration::from_secs(5);
            let _ = tokio::time::timeout(wait, live.wait_for(|s| s.first_page_ready)).await;
        }
        let mailbox = c.session.mailbox_id;
        let list = read::page(mail.store.as_ref(), mailbox, &f, &c.secret, before, PAGE).await?;
        let status: Vec<Option<LetterStatus>> = mail
            .live
            .with_statuses(mailbox, &c.secret, |s| {
                list.iter()
                    .map(|m| m.meta.message_id.as_deref().and_then(|id| s.get(id)))
                    .collect()
            })
            .await?;
        Ok::<_, ApiError>((f, list, status, live.borrow().waiting))
    }
    .await;
    let (f, list, status, waiting) = match result {
        Ok(x) => x,
        Err(e) => return error_page(e),
    };
    let sent = f.name == SpecialFolder::Sent.name();
    let rows: String = list
        .iter()
        .zip(&status)
        .map(|(m, st)| letter_row(&f.name, m, *st, None))
        .collect();
    let more = (list.len() == PAGE as usize)
        .then(|| list.last())
        .flatten()
        .map(|m| {
            format!(
                "<p><a href=\"/mail/{}?before={}.{}.{}\">Older letters</a></p>",
                escape(&f.name),
                m.message.received_at,
                m.message.arrival,
                m.message.uid
            )
        })
        .unwrap_or_default();
    let filing = if waiting > 0 {
        format!(
            "<p role=\"status\">{waiting} more letters are being opened; reload the page in a moment to see them.</p>\n"
        )
    } else {
        String::new()
    };
    let table = if rows.is_empty() {
        format!("<p>{} is empty.</p>", escape(&f.name))
    } else {
        letter_table(&f.name, if sent { "To" } else { "From" }, false, &rows)
    };
    let sent_note = if q.sent.is_some() && sent {
        "<p role=\"status\" class=\"done\">Your letter was sent. Its status below shows how far it has got.</p>\n"
    } else if q.saved.is_some() && f.name == SpecialFolder::Drafts.name() {
        "<p role=\"status\" class=\"done\">Your draft was saved. Open it to go on writing.</p>\n"
    } else {
        ""
    };
    let body = format!(
        "<h1>{}</h1>\n{sent_note}{filing}{table}\n{more}",
        escape(&f.name)
    );
    Html(signed_in_layout(&c, &f.name, &body)).into_response()
}

/// One letter in a list: date, correspondent (to whom for Sent, from whom
/// otherwise), patient, subject (the link to it), status, and with
/// `in_folder` the folder it is in (search results).
fn letter_row(
    folder: &str,
    m: &read::ListedMessage,
    status: Option<LetterStatus>,
    in_folder: Option<&str>,
) -> String {
    let sent = folder == SpecialFolder::Sent.name();
    let who = if sent { &m.meta.to } else { &m.meta.from };
    let st = match status {
        _ if folder == SpecialFolder::Drafts.name() => "draft",
        None if sent => "sent",
        None => "new",
        // A received letter's own "read" is this practice opening it.
        Some(LetterStatus::Read) if !sent => "opened",
        Some(s) => s.as_str(),
    };
    let subject = m.meta.subject.as_deref().unwrap_or("(no subject)");
    let patient = athen_clinical::extract::patient_in_subject(subject).unwrap_or_default();
    let in_folder = in_folder
        .map(|f| format!("<td>{}</td>", escape(f)))
        .unwrap_or_default();
    // Not yet read here or in a mail program (IMAP \Seen, shared both ways).
    let unread = if m.message.flags & athen_core::mailbox::flags::SEEN == 0 {
        " class=\"unread\""
    } else {
        ""
    };
    format!(
        "<tr{unread}><td>{}</td><td>{}</td><td>{}</td><td><a href=\"/mail/{}/{}\">{}</a></td>{in_folder}<td class=\"status-{st}\">{st}</td></tr>\n",
        escape(rfc3339(m.message.received_at).get(..16).unwrap_or_default()),
        escape(&who.join(", ")),
        escape(&patient),
        escape(folder),
        m.message.uid,
        escape(subject),
    )
}

/// The table around [`letter_row`]s.
fn letter_table(caption: &str, who: &str, with_folder: bool, rows: &str) -> String {
    format!(
        "<table>\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">Date (UTC)</th><th scope=\"col\">{who}</th>\
<th scope=\"col\">Patient</th><th scope=\"col\">Subject</th>{}<th scope=\"col\">Status</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>",
        escape(caption),
        if with_folder {
            "<th scope=\"col\">Folder</th>"
        } else {
            ""
        },
    )
}

/// Most search results shown on one page.
const SEARCH_LIMIT: usize = 200;

#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /search?q=`: letters in any folder whose subject (and so the
/// patient named in it) or correspondents contain every word.
pub(crate) async fn search(
    SignedIn { mail, caller: c }: SignedIn,
    Query(q): Query<SearchQuery>,
) -> Response {
    let mail = &*mail;
    let query = q.q.trim();
    let result = async {
        let mailbox = c.session.mailbox_id;
        let found = read::search(
            mail.store.as_ref(),
            mailbox,
            &c.secret,
            query,
            SEARCH_LIMIT + 1,
        )
        .await?;
        let status: Vec<Option<LetterStatus>> = mail
            .live
            .with_statuses(mailbox, &c.secret, |s| {
                found
                    .iter()
                    .map(|(_, m)| m.meta.message_id.as_deref().and_then(|id| s.get(id)))
                    .collect()
            })
            .await?;
        Ok::<_, ApiError>((found, status))
    }
    .await;
    let (found, status) = match result {
        Ok(x) => x,
        Err(e) => return error_page(e),
    };
    let rows: String = found
        .iter()
        .take(SEARCH_LIMIT)
        .zip(&status)
        .map(|((f, m), st)| letter_row(&f.name, m, *st, Some(&f.name)))
        .collect();
    let outcome = if query.is_empty() {
        String::new()
    } else if rows.is_empty() {
        format!(
            "<p role=\"status\">No letter matches “{}”.</p>",
            escape(query)
        )
    } else {
        let more = if found.len() > SEARCH_LIMIT {
            format!(
                "<p role=\"status\">Only the newest {SEARCH_LIMIT} are shown; add a word to narrow the search.</p>\n"
            )
        } else {
            String::new()
        };
        format!(
            "{more}{}",
            letter_table(
                &format!("Letters matching “{query}”"),
                "From or to",
                true,
                &rows
            )
        )
    };
    let body = format!(
        "<h1>Search letters</h1>\n<form method=\"get\" action=\"/search\" role=\"search\">\n\
<label for=\"q\">Patient, correspondent or subject</label>\n\
<input id=\"q\" name=\"q\" type=\"search\" value=\"{}\" aria-describedby=\"q-hint\">\n\
<p id=\"q-hint\" class=\"hint\">Finds letters in every folder whose subject, patient, sender or recipient has a word beginning with each word you type: &ldquo;smi 1960&rdquo; finds SMITH born in 1960. The text of letters is not searched.</p>\n\
<button type=\"submit\">Search</button>\n</form>\n{outcome}",
        escape(query)
    );
    Html(signed_in_layout(&c, "Search letters", &body)).into_response()
}

/// The buttons that file a letter elsewhere: Archive, Delete (to Trash;
/// from Trash, for good), and any other folder.
fn move_form(c: &Caller, folder: &str, uid: u32) -> String {
    let trash = SpecialFolder::Trash.name();
    let others: String = SpecialFolder::ALL
        .iter()
        .map(|f| f.name())
        .filter(|f| *f != folder && *f != trash)
        .map(|f| format!("<option value=\"{0}\">{0}</option>", escape(f)))
        .collect();
    let quick = if folder == trash {
        "<button type=\"submit\" name=\"to\" value=\"delete\" class=\"danger\">Delete for good</button>".to_string()
    } else {
        format!(
            "{}<button type=\"submit\" name=\"to\" value=\"{trash}\">Delete</button>",
            if folder == SpecialFolder::Archive.name() {
                ""
            } else {
                "<button type=\"submit\" name=\"to\" value=\"Archive\">Archive</button> "
            }
        )
    };
    format!(
        "<form method=\"post\" action=\"/mail/{0}/{uid}/move\" class=\"actions\">\n\
<input type=\"hidden\" name=\"csrf\" value=\"{1}\">{quick}\n</form>\n\
<form method=\"post\" action=\"/mail/{0}/{uid}/move\" class=\"actions\">\n\
<input type=\"hidden\" name=\"csrf\" value=\"{1}\"><label for=\"move-to\">Move to</label>\
<select id=\"move-to\" name=\"to\">{others}</select> <button type=\"submit\">Move</button>\n</form>",
        escape(folder),
        csrf_of(&c.token),
    )
}

#[derive(Deserialize)]
pub(crate) struct MoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    to: String,
}

impl crate::session::WithCsrf for MoveForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /mail/{folder}/{uid}/move`: files the letter in another folder
/// (`to`), or removes it for good (`to=delete`, only from Trash). The
/// letter's trail stays: what happened to it is not forgotten with it.
pub(crate) async fn move_message(
    Path((folder, uid)): Path<(String, u32)>,
    SignedInForm {
        mail,
        caller: c,
        form: f,
    }: SignedInForm<MoveForm>,
) -> Response {
    let mail = &*mail;
    let done = async {
        let m = crate::letters::message_at(mail, &c, &folder, uid).await?;
        let mailbox = c.session.mailbox_id;
        if f.to == "delete" {
            if folder != SpecialFolder::Trash.name() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "letters are deleted for good only from Trash",
                ));
            }
            crate::letters::delete_for_good(mail, &c, &m).await?;
            return Ok(folder.clone());
        }
        let to = crate::letters::folder_of(mail, &c, &f.to).await?;
        if to.name == folder {
            return Ok(folder.clone());
        }
        mail.store
            .move_message(mailbox, m.id, to.id)
            .await
            .map_err(athen_mail::MailError::Store)?;
        Ok(folder.clone())
    }
    .await;
    match done {
        Ok(back) => see_other(&format!("/mail/{back}")),
        Err(e) => error_page(e),
    }
}

/// `GET /mail/{folder}/{uid}`: a letter, as text, with its attachments.
/// Opening it is recorded, and its read receipt sent by the policy.
pub(crate) async fn message(
    State(state): State<Arc<WebState>>,
    SignedIn { mail, caller: c }: SignedIn,
    Path((folder, uid)): Path<(String, u32)>,
) -> Response {
    let mail = &*mail;
    let opened = async {
        let m = crate::letters::message_at(mail, &c, &folder, uid).await?;
        Ok::<_, ApiError>(crate::letters::open_letter(mail, &c, &m, state.clock.now()).await?)
    }
    .await;
    let (raw, outcome) = match opened {
        Ok(x) => x,
        Err(e) => return error_page(e),
    };
    // "Ask me each time": the question, when the sender asked to know.
    let ask = match outcome {
        athen_mail::mdn::ReceiptOutcome::Policy(athen_core::mailbox::ReceiptPolicy::Ask)
            if athen_mail::mdn::request(&raw).is_ok() =>
        {
            format!(
                "<form method=\"post\" action=\"/mail/{}/{uid}/receipt\" class=\"receipt-ask\" role=\"region\" aria-label=\"Read receipt\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\"><p>The sender asked to be told when this letter is read.</p>\
<button type=\"submit\">Send a read receipt</button></form>\n",
                escape(&folder),
                csrf_of(&c.token)
            )
        }
        _ => String::new(),
    };
    let Some(msg) = MessageParser::default().parse(&raw[..]) else {
        return error_page(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "this message cannot be read as e-mail".into(),
            retry_after: None,
        });
    };
    let meta = athen_mail::meta::extract(&raw);
    // Only this server writes the mark (it is removed from all that
    // comes in): the sender registered here and has not yet entered the
    // code posted to them.
    let ask = if athen_mail::header::sender_unconfirmed(&raw) {
        format!(
            "<p class=\"warning\" role=\"note\"><strong>Sender not confirmed yet.</strong> This letter comes from an account \
that registered on this server but has not yet entered the code we posted to its street address, so it is not yet \
checked that the sender is who they say they are.</p>\n{ask}"
        )
    } else {
        ask
    };
    let field = |label: &str, v: &str| format!("<dt>{}</dt><dd>{}</dd>", escape(label), escape(v));
    let fields = [
        field("From", &meta.from.join(", ")),
        field("To", &meta.to.join(", ")),
        field("Date", meta.date.as_deref().unwrap_or("")),
    ]
    .concat();
    let shown = match letter_view::letter_body(&msg) {
        LetterBody::Html(html) => format!("<div class=\"letter\">{html}</div>"),
        LetterBody::Text(text) => format!("<pre class=\"letter\">{}</pre>", escape(&text)),
    };
    let files: String = msg
        .attachments()
        .enumerate()
        .map(|(n, p)| {
            format!(
                "<li><a href=\"/mail/{}/{uid}/attachments/{n}\">{}</a> ({} bytes)</li>",
                escape(&folder),
                escape(p.attachment_name().unwrap_or("attachment")),
                p.contents().len()
            )
        })
        .collect();
    let files = if files.is_empty() {
        String::new()
    } else {
        format!("<h2>Attachments</h2>\n<ul class=\"attachments\">{files}</ul>\n")
    };
    let subject = meta.subject.as_deref().unwrap_or("(no subject)");
    let body = format!(
        "<h1>{}</h1>\n{ask}<dl class=\"fields\">{fields}</dl>\n{shown}\n{files}\
<p>{write} · <a href=\"/mail/{folder}/{uid}/audit\">What happened to this letter</a> · <a href=\"/mail/{folder}\">Back to {folder}</a></p>\n{}",
        escape(subject),
        move_form(&c, &folder, uid),
        folder = escape(&folder),
        write = if folder == SpecialFolder::Drafts.name() {
            format!(
                "<a href=\"/compose?draft={}/{uid}\"><strong>Go on writing</strong></a>",
                escape(&folder)
            )
        } else {
            format!(
                "<a href=\"/compose?reply={0}/{uid}\">Reply</a> · <a href=\"/compose?forward={0}/{uid}\">Forward</a>",
                escape(&folder)
            )
        },
    );
    Html(signed_in_layout(&c, subject, &body)).into_response()
}

/// `POST /mail/{folder}/{uid}/receipt`: the answer to "ask me each time":
/// the read receipt is sent (once per letter, as always).
pub(crate) async fn send_receipt(
    State(state): State<Arc<WebState>>,
    Path((folder, uid)): Path<(String, u32)>,
    SignedInForm {
        mail,
        caller: c,
        form: _,
    }: SignedInForm<CsrfForm>,
) -> Response {
    let mail = &*mail;
    let done = async {
        let m = crate::letters::message_at(mail, &c, &folder, uid).await?;
        let always = athen_core::mailbox::ReceiptPolicy::Always;
        Ok::<_, ApiError>(
            crate::letters::open_letter_with(mail, &c, &m, state.clock.now(), always).await?,
        )
    }
    .await;
    use athen_mail::mdn::ReceiptOutcome;
    let said = match done {
        Ok((_, ReceiptOutcome::Sent(to) | ReceiptOutcome::Queued(to))) => {
            format!("A read receipt is on its way to {to}.")
        }
        Ok((_, ReceiptOutcome::AlreadySent)) => "A read receipt was sent already.".to_string(),
        Ok((_, ReceiptOutcome::NotSent(_))) => {
            "This letter asked for no read receipt; nothing was sent.".to_string()
        }
        Ok((_, other)) => {
            tracing::warn!(outcome = ?other, "read receipt asked for by hand not sent");
            "No read receipt could be sent for this letter.".to_string()
        }
        Err(e) => return error_page(e),
    };
    Html(signed_in_layout(
        &c,
        "Read receipt",
        &format!(
            "<h1>Read receipt</h1>\n<p role=\"status\" class=\"done\">{}</p>\n<p><a href=\"/mail/{1}/{uid}\">Back to the letter</a> · <a href=\"/mail/{1}\">Back to {1}</a></p>",
            escape(&said),
            escape(&folder)
        ),
    ))
    .into_response()
}

/// `GET /mail/{folder}/{uid}/attachments/{n}`: one attachment, always as
/// a download (never shown by the browser, so it cannot run as a page).
pub(crate) async fn attachment(
    SignedIn { mail, caller: c }: SignedIn,
    Path((folder, uid, n)): Path<(String, u32, usize)>,
) -> Response {
    let mail = &*mail;
    let raw = async {
        let m = crate::letters::message_at(mail, &c, &folder, uid).await?;
        Ok::<_, ApiError>(read::raw_message(mail.blobs.as_ref(), &c.secret, &m).await?)
    }
    .await;
    let raw = match raw {
        Ok(r) => r,
        Err(e) => return error_page(e),
    };
    let found = MessageParser::default().parse(&raw[..]).and_then(|msg| {
        msg.attachments().nth(n).map(|p| {
            (
                p.attachment_name().unwrap_or("attachment").to_string(),
                p.contents().to_vec(),
            )
        })
    });
    let Some((name, bytes)) = found else {
        return error_page(ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("this letter has no attachment {n}"),
            retry_after: None,
        });
    };
    // Only safe characters in the header; the rest become "_".
    let safe: String = name
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ".-_ ".contains(ch) {
                ch
            } else {
                '_'
            }
        })
        .collect();
    let mut res = (StatusCode::OK, bytes).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// `GET /mail/{folder}/{uid}/audit`: the letter's timeline, printable.
pub(crate) async fn message_audit(
    SignedIn { mail, caller: c }: SignedIn,
    Path((folder, uid)): Path<(String, u32)>,
) -> Response {
    let mail = &*mail;
    let found = async {
        let m = crate::letters::message_at(mail, &c, &folder, uid).await?;
        let meta = read::with_meta(m, &c.secret)?.meta;
        let all = audit::trail(mail.store.as_ref(), c.session.mailbox_id, &c.secret).await?;
        let items = match &meta.message_id {
            Some(id) => audit::of_message(all, id),
            None => Vec::new(),
        };
        Ok::<_, ApiError>((meta, items))
    }
    .await;
    let (meta, items) = match found {
        Ok(x) => x,
        Err(e) => return error_page(e),
    };
    let rows: String = items
        .iter()
        .map(|i| {
            let e = &i.event;
            let what = e.kind.map(EventKind::as_str).unwrap_or("?");
            let more: Vec<&str> = [&e.detail, &e.remote_host, &e.tls, &e.file]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(rfc3339(i.at).get(..19).unwrap_or_default()),
                escape(what),
                escape(e.correspondent.as_deref().unwrap_or("")),
                escape(e.actor.as_deref().unwrap_or("")),
                escape(&more.join(" · ")),
            )
        })
        .collect();
    let subject = meta.subject.as_deref().unwrap_or("(no subject)");
    let body = format!(
        "<h1>What happened to “{}”</h1>\n<table>\n<caption>Timeline (times in UTC)</caption>\n\
<thead><tr><th scope=\"col\">When</th><th scope=\"col\">What</th><th scope=\"col\">Who</th>\
<th scope=\"col\">By login</th><th scope=\"col\">Details</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n\
<p><a href=\"/mail/{}/{uid}\">Back to the letter</a></p>",
        escape(subject),
        escape(&folder),
    );
    Html(signed_in_layout(&c, "Timeline", &body)).into_response()
}

/// The delivery formats a practice can choose, as (setting, plain words).
const FORMATS: &[(&str, &str)] = &[
    (
        "hl7-oru:adrm2021",
        "HL7 letter (ORU, ADRM 2021) — Best Practice, Medical Director, Genie and most others",
    ),
    (
        "hl7-oru:as4700",
        "HL7 letter (ORU, AS 4700) — older clinical systems",
    ),
    ("hl7-ref:adrm2021", "HL7 referral (REF)"),
    ("pit", "PIT text file"),
    ("pit-rtf", "PIT with the letter as RTF"),
];

/// Whether the caller may change the mailbox's settings: the account's
/// own login, not a staff login (staff may look).
async fn may_change_settings(mail: &MailServices, c: &Caller) -> Result<bool, ApiError> {
    let login = mail.store.login(c.session.login_id).await?;
    Ok(login.is_some_and(|l| l.staff_entry_id.is_none()))
}

#[derive(Deserialize)]
pub(crate) struct SettingsQuery {
    #[serde(default)]
    saved: Option<String>,
}

fn settings_page(
    c: &Caller,
    settings: &athen_core::mailbox::MailboxSettings,
    may_change: bool,
    note: Option<(&str, bool)>,
) -> String {
    let note = match note {
        Some((text, true)) => format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(text)),
        Some((text, false)) => format!("<p role=\"status\">{}</p>\n", escape(text)),
        None => String::new(),
    };
    let disabled = if may_change { "" } else { " disabled" };
    let choice = |n: usize, label: &str| {
        let current = settings
            .delivery_formats
            .get(n)
            .map(String::as_str)
            .unwrap_or("none");
        let options: String = std::iter::once(("none", "No file"))
            .chain(FORMATS.iter().copied())
            .map(|(value, words)| {
                let sel = if value == current { " selected" } else { "" };
                format!("<option value=\"{value}\"{sel}>{}</option>", escape(words))
            })
            .collect();
        format!(
            "<label for=\"format{n}\">{label}</label><select id=\"format{n}\" name=\"format{n}\"{disabled}>{options}</select>\n"
        )
    };
    let radio = |value: &str, words: &str| {
        let checked = if settings.receipt_policy.as_str() == value {
            " checked"
        } else {
            ""
        };
        format!(
            "<div><input type=\"radio\" id=\"receipts-{value}\" name=\"receipts\" value=\"{value}\"{checked}{disabled}> \
<label for=\"receipts-{value}\" class=\"inline\">{}</label></div>\n",
            escape(words)
        )
    };
    let who = if may_change {
        String::new()
    } else {
        "<p>Only the practice's own login can change these settings; ask your practice manager.</p>\n".into()
    };
    let staff = match (may_change, c.account.kind) {
        (true, athen_core::account::AccountKind::Organisation) => {
            "\n<p><a href=\"/settings/entry\">Directory entry</a> (address, phone, kind of service)</p>\
\n<p><a href=\"/settings/staff\">Staff</a> (who is listed in the directory under the practice, and their logins)</p>"
        }
        (true, _) => {
            "\n<p><a href=\"/settings/entry\">Directory entry</a> (address, phone, specialty, provider number)</p>"
        }
        _ => "",
    };
    let body = format!(
        "<h1>Settings</h1>\n{note}{who}<p><a href=\"/settings/security\">Password, recovery code and app tokens</a> (for the downloader, Outlook, Thunderbird or a phone)</p>\n<p><a href=\"/settings/two-step\">Two-step sign-in</a> (a code from your phone as well as the password)</p>{staff}\n<form method=\"post\" action=\"/settings\">\n\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
<fieldset><legend>Files for your clinical system</legend>\n\
<p>Each letter that arrives gets a file your clinical system can import, attached to the letter. \
If the first choice cannot be made for a letter, the second is tried.</p>\n{}{}</fieldset>\n\
<fieldset><legend>Read receipts</legend>\n<p>When you open a letter whose sender asked to know:</p>\n{}{}{}</fieldset>\n\
<button type=\"submit\"{disabled}>Save</button>\n</form>",
        csrf_of(&c.token),
        choice(0, "First choice"),
        choice(1, "Second choice"),
        radio("always", "Tell the sender it was read (recommended)"),
        radio("ask", "Ask me each time"),
        radio("never", "Never tell the sender"),
    );
    signed_in_layout(c, "Settings", &body)
}

/// `GET /settings`
pub(crate) async fn settings(
    SignedIn { mail, caller: c }: SignedIn,
    Query(q): Query<SettingsQuery>,
) -> Response {
    let mail = &*mail;
    let loaded = async {
        let s = mail.store.settings(c.session.mailbox_id).await?;
        Ok::<_, ApiError>((s, may_change_settings(mail, &c).await?))
    }
    .await;
    match loaded {
        Ok((s, may)) => {
            let note = q
                .saved
                .is_some()
                .then_some(("Your settings are saved.", false));
            Html(settings_page(&c, &s, may, note)).into_response()
        }
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
pub(crate) struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    format0: String,
    #[serde(default)]
    format1: String,
    #[serde(default)]
    receipts: String,
}

impl crate::session::WithCsrf for SettingsForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /settings`: only the account's own login; every value checked.
pub(crate) async fn save_settings(
    SignedInForm {
        mail,
        caller: c,
        form: f,
    }: SignedInForm<SettingsForm>,
) -> Response {
    let mail = &*mail;
    let mailbox = c.session.mailbox_id;
    let current = match mail.store.settings(mailbox).await {
        Ok(s) => s,
        Err(e) => return error_page(athen_mail::MailError::Store(e).into()),
    };
    match may_change_settings(mail, &c).await {
        Ok(true) => {}
        Ok(false) => {
            let page = settings_page(
                &c,
                &current,
                false,
                Some((
                    "Only the practice's own login can change these settings.",
                    true,
                )),
            );
            return (StatusCode::FORBIDDEN, Html(page)).into_response();
        }
        Err(e) => return error_page(e),
    }
    let refuse = |msg: &str| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(settings_page(&c, &current, true, Some((msg, true)))),
        )
            .into_response()
    };
    let Some(policy) = athen_core::mailbox::ReceiptPolicy::parse(&f.receipts) else {
        return refuse("Please choose what to do about read receipts.");
    };
    let mut formats: Vec<String> = Vec::new();
    for chosen in [&f.format0, &f.format1] {
        if chosen.is_empty() || chosen == "none" {
            continue;
        }
        match athen_clinical::write::Format::parse(chosen) {
            Ok(format) if !formats.contains(&format.name()) => formats.push(format.name()),
            Ok(_) => {}
            Err(_) => return refuse("Please choose the files from the list."),
        }
    }
    let new = athen_core::mailbox::MailboxSettings {
        delivery_formats: formats,
        receipt_policy: policy,
    };
    if let Err(e) = mail.store.set_settings(mailbox, &new).await {
        return error_page(athen_mail::MailError::Store(e).into());
    }
    tracing::info!(login = %c.session.login_name, "mailbox settings changed");
    see_other("/settings?saved=1")
}
