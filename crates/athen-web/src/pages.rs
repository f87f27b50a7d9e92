//! Plain pages: home, health, style sheet, not found.

use crate::WebState;
use crate::layout::{escape, layout};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use std::sync::Arc;

pub(crate) async fn home(State(state): State<Arc<WebState>>) -> Html<String> {
    Html(layout(
        "Secure clinical messaging",
        &format!(
            "<h1>Secure clinical messaging</h1>\n\
<p>ATHEN lets practices, specialists and hospitals send each other letters by secure e-mail, \
with every letter tracked until it has been read or imported into the clinical system.</p>\n\
<p>This server handles mail for <strong>{}</strong>.</p>\n\
<p><a href=\"/directory\">Find a provider</a> · <a href=\"/register\">Join ATHEN</a> · <a href=\"/login\">Sign in</a></p>",
            escape(&state.domain)
        ),
    ))
}

pub(crate) async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;line-height:1.5;color:#111;background:#fff}\
header .brand{font-weight:bold;letter-spacing:.1em}\
label{display:block;margin-top:1rem;font-weight:600}\
input,textarea{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box;border:1px solid #555;font-family:inherit}input[type=checkbox],input[type=radio]{width:auto}.hint{color:#333}.code{font-size:1.6rem;font-family:monospace;letter-spacing:.1em}.done{color:#0b5a2a;font-weight:600}.actions{display:inline-block;margin-right:1rem}.actions button,.actions select{width:auto}.danger{background:#8a0b0b}.choices li{margin-bottom:1rem}\
button{margin-top:1rem;font-size:1rem;padding:.5rem 1rem;background:#0b4f8a;color:#fff;border:0}\
.error{color:#8a0b0b;font-weight:600}.folders{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1rem}.signout{display:flex;gap:1rem;align-items:baseline}.signout button{margin-top:0}table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem;border-bottom:1px solid #ccc;vertical-align:top}caption{text-align:left;font-weight:600}.status-failed{color:#8a0b0b;font-weight:600}tr.unread td{font-weight:600}pre.letter{white-space:pre-wrap;font-family:inherit}form.receipt-ask{border:2px solid #0b4f8a;padding:.5rem 1rem;margin:1rem 0}div.letter{border-left:3px solid #ccc;padding-left:1rem;overflow-wrap:anywhere}dl.fields dt{font-weight:600}dl.fields dd{margin:0 0 .5rem 0}label.inline{display:inline;font-weight:normal}select{font-size:1rem;padding:.3rem;width:100%}fieldset{margin-top:1rem;border:1px solid #999}.directory{list-style:none;padding:0}.entry{border-top:1px solid #ccc;padding:.5rem 0}.entry h2{margin:.2rem 0;font-size:1.1rem}.entry p{margin:.1rem 0}@media print{nav,.signout{display:none}}";

pub(crate) async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// The compose page's one script: as the address box is typed in, it
/// offers matching directory entries (`/directory/suggest`). Without it
/// the page works the same; the address is typed or picked in the
/// directory. Served from here, as CSP allows only this site's scripts.
const COMPOSE_JS: &str = r#"'use strict';
(function () {
  var box = document.getElementById('to');
  var list = document.getElementById('directory-suggestions');
  if (!box || !list || !window.fetch) { return; }
  var timer = null;
  box.addEventListener('input', function () {
    clearTimeout(timer);
    var parts = box.value.split(/[,;]/);
    var q = parts[parts.length - 1].trim();
    if (q.length < 2 || q.indexOf('@') >= 0) { return; }
    timer = setTimeout(function () {
      fetch('/directory/suggest?q=' + encodeURIComponent(q), { credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
        .then(function (data) {
          while (list.firstChild) { list.removeChild(list.firstChild); }
          var head = parts.slice(0, -1).map(function (p) { return p.trim(); }).filter(Boolean);
          data.suggestions.forEach(function (s) {
            var o = document.createElement('option');
            o.value = head.concat([s.address]).join(', ');
            o.label = s.label;
            o.textContent = s.label;
            list.appendChild(o);
          });
        })
        .catch(function () {});
    }, 200);
  });
})();
"#;

pub(crate) async fn compose_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        COMPOSE_JS,
    )
        .into_response()
}

pub(crate) async fn not_found() -> (StatusCode, Html<String>) {
    (
        StatusCode::NOT_FOUND,
        Html(layout(
            "Not found",
            "<h1>Page not found</h1>\n<p>There is no page at this address. <a href=\"/\">Go to the home page</a>.</p>",
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">O'Brien & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Brien &amp; co&lt;/a&gt;"
        );
    }
}
