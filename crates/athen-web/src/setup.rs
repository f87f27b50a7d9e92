//! Creating the first administrator with the one-time token printed at
//! first start. The token is a capability: whoever has it may create the
//! first operator, once. It is stored only as a hash and consumed on use.

use crate::WebState;
use crate::layout::{escape, layout};
use athen_vault::codes;
use athen_vault::provision::check_new_password;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub(crate) struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

type Page = (StatusCode, Html<String>);

fn page(status: StatusCode, title: &str, body: &str) -> Page {
    (status, Html(layout(title, body)))
}

fn already_done() -> Page {
    page(
        StatusCode::GONE,
        "Already set up",
        "<h1>This server is already set up</h1>\n<p>An administrator exists. Further administrators are added with \
<code>athen admin operator create</code> on the server.</p>",
    )
}

fn form_page(token: &str, name: &str, login: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    layout(
        "Create the administrator",
        &format!(
            "<h1>Create the administrator</h1>\n{error}\
<p>The administrator confirms new accounts and posts their welcome letters. \
The administrator cannot read anybody's mail.</p>\n\
<form method=\"post\" action=\"/setup\">\n\
<input type=\"hidden\" name=\"token\" value=\"{}\">\n\
<label for=\"name\">Your name</label><input id=\"name\" name=\"name\" required value=\"{}\" autocomplete=\"name\">\n\
<label for=\"login\">User name</label><input id=\"login\" name=\"login\" required value=\"{}\" autocomplete=\"username\">\n\
<label for=\"password\">Password (at least 10 characters)</label><input id=\"password\" name=\"password\" type=\"password\" required minlength=\"10\" autocomplete=\"new-password\">\n\
<label for=\"password_again\">Password again</label><input id=\"password_again\" name=\"password_again\" type=\"password\" required autocomplete=\"new-password\">\n\
<button type=\"submit\">Create administrator</button>\n</form>",
            escape(token),
            escape(name),
            escape(login)
        ),
    )
}

pub(crate) async fn form(State(state): State<Arc<WebState>>, Query(q): Query<TokenQuery>) -> Page {
    match state.operators.count_operators().await {
        Ok(0) => {}
        Ok(_) => return already_done(),
        Err(e) => return server_error(e),
    }
    if q.token.trim().is_empty() {
        return page(
            StatusCode::BAD_REQUEST,
            "Set-up link needed",
            "<h1>Set-up link needed</h1>\n<p>Open the set-up link that ATHEN printed when it first started. \
To print a new one, run <code>athen admin operator setup-link</code> on the server.</p>",
        );
    }
    (StatusCode::OK, Html(form_page(&q.token, "", "", None)))
}

fn server_error(e: impl std::fmt::Display) -> Page {
    tracing::error!(error = %e, "set-up page failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "<h1>Something went wrong</h1>\n<p>The server could not finish this. Nothing was changed. Please try again; \
if it keeps happening, check the server log.</p>",
    )
}

pub(crate) async fn submit(State(state): State<Arc<WebState>>, Form(f): Form<SetupForm>) -> Page {
    match state.operators.count_operators().await {
        Ok(0) => {}
        Ok(_) => return already_done(),
        Err(e) => return server_error(e),
    }
    let retry = |msg: &str| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(form_page(&f.token, &f.name, &f.login, Some(msg))),
        )
    };
    let name = f.name.trim();
    let login = f.login.trim().to_ascii_lowercase();
    if name.is_empty() || name.chars().count() > 100 {
        return retry("Please give your name (up to 100 characters).");
    }
    if login.is_empty()
        || login.len() > 64
        || !login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
    {
        return retry("The user name may use letters, digits and . - _ @ only (up to 64).");
    }
    if let Err(e) = check_new_password(&f.password) {
        return retry(&e.to_string());
    }
    if f.password != f.password_again {
        return retry("The two passwords are not the same.");
    }
    match state
        .operators
        .take_bootstrap_token(&codes::code_hash(&f.token))
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return page(
                StatusCode::FORBIDDEN,
                "Set-up link not valid",
                "<h1>This set-up link is not valid</h1>\n<p>It may have been used already, or mistyped. \
To print a new one, run <code>athen admin operator setup-link</code> on the server.</p>",
            );
        }
        Err(e) => return server_error(e),
    }
    let kdf = state.kdf;
    let password = zeroize::Zeroizing::new(f.password.clone());
    let verifier = match tokio::task::spawn_blocking(move || {
        codes::password_verifier(password.as_bytes(), kdf)
    })
    .await
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return server_error(e),
        Err(e) => return server_error(e),
    };
    match state
        .operators
        .add_operator(name, &login, verifier, state.clock.now())
        .await
    {
        Ok(_) => {
            tracing::info!(login = %login, "first administrator created");
            page(
                StatusCode::OK,
                "Administrator created",
                &format!(
                    "<h1>Administrator created</h1>\n<p>{} can now sign in as <strong>{}</strong>. The set-up link no longer works.</p>",
                    escape(name),
                    escape(&login)
                ),
            )
        }
        Err(e) => server_error(e),
    }
}
