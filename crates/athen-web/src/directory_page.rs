//! The public directory: who is on ATHEN and how to write to them, found by
//! name, provider number, suburb or postcode, specialty and category. Only
//! confirmed accounts are listed; everything shown is what the providers
//! published to be found.

use crate::WebState;
use crate::layout::{escape, layout};
use athen_core::directory::{Category, DirectoryEntry, DirectoryHit, DirectoryQuery, EntryRole};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

/// At most this many results a page.
const LIMIT: u32 = 50;

#[derive(Deserialize, Default)]
pub(crate) struct Search {
    #[serde(default)]
    name: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    place: String,
    #[serde(default)]
    specialty: String,
    #[serde(default)]
    category: String,
}

fn given(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s.len() <= 100).then(|| s.to_string())
}

fn form(s: &Search) -> String {
    let field = |id: &str, label: &str, value: &str, hint: &str| {
        format!(
            "<label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{id}\" value=\"{}\" maxlength=\"100\"{}>\n",
            escape(value),
            if hint.is_empty() {
                String::new()
            } else {
                format!(" placeholder=\"{}\"", escape(hint))
            }
        )
    };
    let categories: String = std::iter::once(("", "Any"))
        .chain(Category::ALL.iter().map(|c| (c.slug(), c.label())))
        .map(|(slug, label)| {
            let sel = if slug == s.category { " selected" } else { "" };
            format!("<option value=\"{slug}\"{sel}>{}</option>", escape(label))
        })
        .collect();
    format!(
        "<form method=\"get\" action=\"/directory\" role=\"search\">\n{}{}{}{}\
<label for=\"category\">Kind of service</label><select id=\"category\" name=\"category\">{categories}</select>\n\
<button type=\"submit\">Search</button>\n</form>\n",
        field(
            "name",
            "Name of the person or practice",
            &s.name,
            "e.g. Smith, or Northside"
        ),
        field("provider", "Provider number", &s.provider, "e.g. 2426621B"),
        field("place", "Suburb or postcode", &s.place, ""),
        field("specialty", "Specialty", &s.specialty, "e.g. cardiology"),
    )
}

fn place(e: &DirectoryEntry) -> String {
    let d = &e.details;
    [
        d.street.clone(),
        d.suburb.clone(),
        d.state.map(|s| s.to_string()),
        d.postcode.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ")
}

/// One result as a list item, written into one string (a page has 50).
fn hit_html(h: &DirectoryHit) -> String {
    use std::fmt::Write;
    let d = &h.entry.details;
    let mut about = Vec::new();
    if let Some(p) = &d.position {
        about.push(escape(p));
    }
    if let Some(s) = &d.specialty {
        about.push(escape(s));
    }
    if let Some(c) = d.category {
        about.push(escape(c.label()));
    }
    if let Some(o) = &h.organisation
        && h.entry.role == EntryRole::Staff
    {
        about.push(format!("at {}", escape(&o.details.display_name())));
    }
    let here = if place(&h.entry).is_empty() {
        h.organisation.as_ref().map(place).unwrap_or_default()
    } else {
        place(&h.entry)
    };
    let mut out = String::with_capacity(512);
    let _ = write!(
        out,
        "<li class=\"entry\"><h2>{}</h2>",
        escape(&h.entry.details.display_name())
    );
    if !about.is_empty() {
        let _ = write!(out, "\n<p>{}</p>", about.join(" · "));
    }
    if !here.is_empty() {
        let _ = write!(out, "\n<p>{}</p>", escape(&here));
    }
    if !d.provider_numbers.is_empty() {
        let _ = write!(
            out,
            "\n<p>Provider number{}: {}</p>",
            if d.provider_numbers.len() == 1 {
                ""
            } else {
                "s"
            },
            escape(&d.provider_numbers.join(", "))
        );
    }
    for (label, v) in [("Phone", &d.phone), ("Fax", &d.fax)] {
        if let Some(v) = v {
            let _ = write!(out, "\n<p>{label}: {}</p>", escape(v));
        }
    }
    let _ = write!(
        out,
        "\n<p>Write to: <strong>{0}</strong> · <a href=\"/compose?to={1}\">Write a letter</a></p></li>",
        escape(&h.address),
        escape(&percent(&h.address))
    );
    out
}

/// `GET /directory?name=&provider=&place=&specialty=&category=`
/// The directory's per-address limit: a 429 page with Retry-After beyond it.
fn within_limit(
    state: &WebState,
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
) -> Result<(), Box<Response>> {
    let from = peer.map(|p| p.0.0.ip());
    state
        .directory_limit
        .allow(from, state.clock.now())
        .map_err(|wait| {
            let mut res = (
                StatusCode::TOO_MANY_REQUESTS,
                Html(layout(
                    "Please wait",
                    &format!(
                        "<h1>Please wait a moment</h1>\n<p>Too many searches came from your address in the last minute. \
Please try again in {wait} seconds.</p>"
                    ),
                )),
            )
                .into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&wait.to_string()) {
                res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            Box::new(res)
        })
}

pub(crate) async fn search(
    State(state): State<Arc<WebState>>,
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    Query(s): Query<Search>,
) -> Response {
    if let Err(res) = within_limit(&state, peer) {
        return *res;
    }
    let Some(mail) = state.mail.as_deref() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Html(layout(
                "Directory",
                "<h1>The directory is not available</h1>",
            )),
        )
            .into_response();
    };
    let category = match s.category.trim() {
        "" => None,
        slug => match slug.parse::<Category>() {
            Ok(c) => Some(c),
            Err(_) => {
                let body = format!(
                    "<h1>Find a provider</h1>\n<p class=\"error\" role=\"alert\">Please choose the kind of service from the list.</p>\n{}",
                    form(&s)
                );
                return (
                    StatusCode::BAD_REQUEST,
                    Html(layout("Find a provider", &body)),
                )
                    .into_response();
            }
        },
    };
    let q = DirectoryQuery {
        name: given(&s.name),
        provider_number: given(&s.provider),
        place: given(&s.place),
        specialty: given(&s.specialty),
        category,
        include_unconfirmed: false,
        limit: LIMIT,
    };
    let asked = q.name.is_some()
        || q.provider_number.is_some()
        || q.place.is_some()
        || q.specialty.is_some()
        || q.category.is_some();
    let intro = "<h1>Find a provider</h1>\n<p>Practices, specialists, hospitals and other services that \
receive letters through ATHEN. Search by any of these; each result says the address to write to.</p>\n";
    if !asked {
        return Html(layout("Find a provider", &format!("{intro}{}", form(&s)))).into_response();
    }
    let hits = match mail.store.search(&q).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "directory search failed");
            let body = format!(
                "{intro}<p class=\"error\" role=\"alert\">The search did not work; please try again.</p>\n{}",
                form(&s)
            );
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(layout("Find a provider", &body)),
            )
                .into_response();
        }
    };
    let results = if hits.is_empty() {
        "<p role=\"status\">Nobody in the directory matches. Try fewer words, or only the suburb.</p>".to_string()
    } else {
        format!(
            "<p role=\"status\">{} found{}.</p>\n<ul class=\"directory\">\n{}\n</ul>",
            hits.len(),
            if hits.len() as u32 == LIMIT {
                " (the first 50: add words to narrow the search)"
            } else {
                ""
            },
            hits.iter().map(hit_html).collect::<Vec<_>>().join("\n")
        )
    };
    Html(layout(
        "Find a provider",
        &format!("{intro}{}{results}", form(&s)),
    ))
    .into_response()
}

/// `application/x-www-form-urlencoded` escaping of a query value.
fn percent(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'@' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[derive(Deserialize, Default)]
pub(crate) struct Suggest {
    #[serde(default)]
    q: String,
}

/// `GET /directory/suggest?q=`: up to 10 confirmed entries whose name
/// starts a word with `q` (or whose provider number is `q`), for the
/// compose page's address box. The same public data as the directory page.
pub(crate) async fn suggest(
    State(state): State<Arc<WebState>>,
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    Query(s): Query<Suggest>,
) -> Response {
    if let Err(res) = within_limit(&state, peer) {
        return *res;
    }
    let q = s.q.trim();
    let Some(mail) = state.mail.as_deref() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    if q.chars().count() < 2 || q.len() > 100 {
        return axum::Json(serde_json::json!({ "suggestions": [] })).into_response();
    }
    let by = |name: Option<String>, provider: Option<String>| DirectoryQuery {
        name,
        provider_number: provider,
        include_unconfirmed: false,
        limit: 10,
        ..DirectoryQuery::default()
    };
    let mut hits = match mail.store.search(&by(Some(q.to_string()), None)).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "directory suggestion failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    if hits.is_empty()
        && let Ok(h) = mail.store.search(&by(None, Some(q.to_string()))).await
    {
        hits = h;
    }
    let list: Vec<serde_json::Value> = hits
        .iter()
        .map(|h| {
            let mut label = h.entry.details.display_name();
            if let Some(o) = &h.organisation
                && h.entry.role == EntryRole::Staff
            {
                label = format!("{label}, {}", o.details.display_name());
            }
            let here = place(&h.entry);
            if !here.is_empty() {
                label = format!("{label} ({here})");
            }
            serde_json::json!({ "label": label, "address": h.address })
        })
        .collect();
    axum::Json(serde_json::json!({ "suggestions": list })).into_response()
}
