//! What every form of the web app shares: cookies, the CSRF token of forms
//! shown before sign-in, fields with their messages beside them, and the
//! pages that say something went wrong.

use crate::layout::{escape, layout};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use zeroize::Zeroizing;

/// Double-submitted CSRF token of the public forms (registration,
/// confirmation): a random value in a cookie and in the form; another site
/// can make the browser send the cookie but cannot read it to fill in the
/// form (and SameSite=Strict keeps it from being sent at all).
pub(crate) const FORM_CSRF_COOKIE: &str = "__Host-athen_form";

/// The value of cookie `name` in the request, if any.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<Zeroizing<String>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| Zeroizing::new(v.to_string()))
}

/// A `__Host-` cookie: Secure, HttpOnly, SameSite=Strict, the whole site.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Constant-time comparison of two tokens.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The CSRF token for a public form: the browser's existing one, or a new
/// one with the cookie to set.
pub(crate) fn public_csrf(
    headers: &HeaderMap,
) -> Result<(Zeroizing<String>, Option<HeaderValue>), athen_vault::VaultError> {
    if let Some(t) = cookie(headers, FORM_CSRF_COOKIE).filter(|t| t.len() >= 32) {
        return Ok((t, None));
    }
    let t = athen_vault::codes::new_bootstrap_token()?;
    let c = set_cookie(FORM_CSRF_COOKIE, &t, None);
    Ok((t, Some(c)))
}

/// Whether a public form's token is the browser's.
pub(crate) fn public_csrf_ok(headers: &HeaderMap, sent: &str) -> bool {
    cookie(headers, FORM_CSRF_COOKIE).is_some_and(|c| !sent.is_empty() && same(sent, &c))
}

pub(crate) fn with_cookie(mut res: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

pub(crate) fn message_page(status: StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        Html(layout(
            &escape(title),
            &format!("<h1>{}</h1>\n<p>{}</p>", escape(title), escape(text)),
        )),
    )
        .into_response()
}

/// A form whose token did not match: from another site, or from before the
/// browser's cookies were cleared.
pub(crate) fn form_expired(again: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(layout(
            "Please try again",
            &format!(
                "<h1>Please try again</h1>\n<p>This form was out of date or did not come from this site, so \
nothing was done. <a href=\"{}\">Open the form again</a>.</p>",
                escape(again)
            ),
        )),
    )
        .into_response()
}

/// A failure of the server's own: logged (without the form's content),
/// and said plainly.
pub(crate) fn server_error(what: &str, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, page = what, "web page failed");
    message_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not finish this, and nothing was changed. Please try again in a moment.",
    )
}

/// Problems found in a form, by the validator's field name ("" for the
/// form as a whole).
#[derive(Default)]
pub(crate) struct FormErrors(Vec<(String, String)>);

impl FormErrors {
    pub(crate) fn add(&mut self, field: &str, reason: &str) {
        if !self.0.iter().any(|(f, _)| f == field) {
            self.0.push((field.to_string(), reason.to_string()));
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The message for one field, as a sentence ("Postcode is needed").
    pub(crate) fn for_field(&self, field: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(f, r)| sentence(f, r))
    }

    /// Every problem at the top of the form, announced to screen readers.
    pub(crate) fn summary(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let items: String = self
            .0
            .iter()
            .map(|(f, r)| format!("<li>{}</li>", escape(&sentence(f, r))))
            .collect();
        format!(
            "<div class=\"error\" role=\"alert\"><p>Please check {}:</p><ul>{items}</ul></div>\n",
            if self.0.len() == 1 { "this" } else { "these" }
        )
    }
}

fn sentence(field: &str, reason: &str) -> String {
    if field.is_empty() {
        reason.to_string()
    } else {
        format!("{field} {reason}")
    }
}

/// One labelled input.
pub(crate) struct Field {
    pub name: &'static str,
    label: &'static str,
    /// The validator's name of the field, for its message.
    check: &'static str,
    required: bool,
    hint: &'static str,
    autocomplete: &'static str,
    kind: &'static str,
}

impl Field {
    pub(crate) const fn text(
        name: &'static str,
        label: &'static str,
        check: &'static str,
        required: bool,
        hint: &'static str,
        autocomplete: &'static str,
    ) -> Field {
        Field {
            name,
            label,
            check,
            required,
            hint,
            autocomplete,
            kind: "text",
        }
    }

    pub(crate) const fn password(
        name: &'static str,
        label: &'static str,
        check: &'static str,
        autocomplete: &'static str,
    ) -> Field {
        Field {
            name,
            label,
            check,
            required: true,
            hint: "",
            autocomplete,
            kind: "password",
        }
    }

    /// The label, the message if there is one, and the input with `value`.
    pub(crate) fn render(&self, value: &str, errors: &FormErrors) -> String {
        let id = self.name;
        let err = errors.for_field(self.check);
        let star = if self.required && !self.label.ends_with('*') {
            " *"
        } else {
            ""
        };
        format!(
            "<label for=\"{id}\">{}{star}</label>{}<input id=\"{id}\" name=\"{id}\" type=\"{}\" value=\"{}\" maxlength=\"200\" autocomplete=\"{}\"{}{}{}>\n",
            escape(self.label),
            err.as_ref()
                .map(|e| format!(
                    "<span class=\"error\" id=\"{id}-error\">{}</span>",
                    escape(e)
                ))
                .unwrap_or_default(),
            self.kind,
            escape(value),
            self.autocomplete,
            if self.required { " required" } else { "" },
            if self.hint.is_empty() {
                String::new()
            } else {
                format!(" placeholder=\"{}\"", escape(self.hint))
            },
            if err.is_some() {
                format!(" aria-invalid=\"true\" aria-describedby=\"{id}-error\"")
            } else {
                String::new()
            },
        )
    }
}

/// A labelled drop-down list: `options` are (value, words shown); the one
/// whose value is `chosen` is selected; the message for `check`, if any,
/// shows beside it.
pub(crate) struct Select<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub check: &'a str,
    pub required: bool,
}

impl Select<'_> {
    pub(crate) fn render(
        &self,
        options: &[(&str, &str)],
        chosen: &str,
        errors: &FormErrors,
    ) -> String {
        let id = self.id;
        let opts: String = options
            .iter()
            .map(|(v, t)| {
                let sel = if v.eq_ignore_ascii_case(chosen.trim()) {
                    " selected"
                } else {
                    ""
                };
                format!(
                    "<option value=\"{}\"{sel}>{}</option>",
                    escape(v),
                    escape(t)
                )
            })
            .collect();
        let err = errors.for_field(self.check);
        format!(
            "<label for=\"{id}\">{}</label>{}<select id=\"{id}\" name=\"{id}\"{}{}>{opts}</select>\n",
            escape(self.label),
            err.as_ref()
                .map(|e| format!(
                    "<span class=\"error\" id=\"{id}-error\">{}</span>",
                    escape(e)
                ))
                .unwrap_or_default(),
            if self.required { " required" } else { "" },
            if err.is_some() {
                format!(" aria-invalid=\"true\" aria-describedby=\"{id}-error\"")
            } else {
                String::new()
            },
        )
    }
}

/// A page with a sign-in form: a new random CSRF token, set in the
/// `cookie` (double submit) and given to `page` to put in the form.
pub(crate) fn page_with_form_token(cookie: &str, page: impl FnOnce(&str) -> String) -> Response {
    let token = match athen_vault::codes::new_bootstrap_token() {
        Ok(t) => t,
        Err(e) => return server_error("form token", e),
    };
    let mut res = (StatusCode::OK, Html(page(&token))).into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(cookie, &token, None));
    res
}

/// The token of a sign-in form that came back: the one set in `cookie` by
/// [`page_with_form_token`], if the form `sent` it too (double submit).
pub(crate) fn sign_in_form_token(
    headers: &HeaderMap,
    cookie_name: &str,
    sent: &str,
) -> Option<Zeroizing<String>> {
    cookie(headers, cookie_name).filter(|expected| !sent.is_empty() && same(sent, expected))
}

/// A signed-in page with a form: 200, or 422 when the form came back with
/// problems.
pub(crate) fn form_page(
    c: &crate::app::Caller,
    title: &str,
    body: &str,
    errors: &FormErrors,
) -> Response {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (
        status,
        Html(crate::layout::signed_in_layout(c, title, body)),
    )
        .into_response()
}
