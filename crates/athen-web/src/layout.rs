//! Page helpers every HTML page uses: escaping, the common frame, and the
//! answers that are pages (redirects, errors, "please try again").

use crate::app::{ApiError, Caller};
use athen_core::mailbox::SpecialFolder;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Wraps a page body in the common layout. `title` and `body` must already
/// be escaped where they contain outside text.
pub(crate) fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en-AU\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title} – ATHEN</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n<body>\n\
<header><p class=\"brand\">ATHEN</p></header>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
}

pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    (status, Html(layout(&escape(title), body))).into_response()
}

pub(crate) fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

pub(crate) fn error_page(e: ApiError) -> Response {
    page(
        e.status,
        "Something is not right",
        &format!(
            "<h1>Something is not right</h1>\n<p>{}</p>\n<p><a href=\"/mail/Inbox\">Back to the inbox</a></p>",
            escape(&e.message)
        ),
    )
}

pub(crate) fn forbidden() -> Response {
    page(
        StatusCode::FORBIDDEN,
        "Please try again",
        "<h1>Please try again</h1>\n<p>This form was out of date or did not come from this site. \
<a href=\"/login\">Sign in again</a>.</p>",
    )
}

/// The CSRF token of a signed-in session: derived from its secret token,
/// so it needs no storage and no other site can know it.
pub(crate) fn csrf_of(session_token: &str) -> String {
    let digest = Sha256::digest(format!("athen csrf v1:{session_token}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The frame of every signed-in page: who is signed in, the folders, and
/// the sign-out button.
pub(crate) fn signed_in_layout(c: &Caller, title: &str, body: &str) -> String {
    let folders: String = SpecialFolder::ALL
        .iter()
        .map(|f| format!("<li><a href=\"/mail/{0}\">{0}</a></li>", escape(f.name())))
        .collect();
    layout(
        &escape(title),
        &format!(
            "<nav aria-label=\"Folders\"><ul class=\"folders\"><li><a href=\"/compose\"><strong>Write a letter</strong></a></li>{folders}<li><a href=\"/search\">Search</a></li><li><a href=\"/settings\">Settings</a></li></ul></nav>\n\
<form method=\"post\" action=\"/logout\" class=\"signout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<span>Signed in as {}</span> <button type=\"submit\">Sign out</button></form>\n{body}",
            csrf_of(&c.token),
            escape(&c.session.login_name),
        ),
    )
}
