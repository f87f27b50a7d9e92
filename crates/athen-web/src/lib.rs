//! ATHEN's HTTPS front door.
//!
//! This first version serves what the foundation needs: a home page, a
//! health check for monitoring, and the one-time page on which the first
//! administrator is created with the token printed at first start. The web
//! app proper (registration, mail, settings) is built on this router.

pub mod admin;
pub mod api;
pub mod app;
mod compose;
mod directory_page;
mod downloads;
mod entry;
mod forms;
mod layout;
mod letter_view;
mod letters;
mod mail_pages;
mod outbox;
mod pages;
pub mod rate;
pub mod register;
mod security;
mod session;
mod setup;
mod sign_in;
mod staff;
pub mod two_step;
pub mod welcome_letter;

use athen_core::clock::Clock;
use athen_core::store::OperatorStore;
use athen_vault::KdfParams;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use std::sync::Arc;

/// What the web handlers need, built once at start-up.
pub struct WebState {
    pub operators: Arc<dyn OperatorStore>,
    pub clock: Arc<dyn Clock>,
    pub kdf: KdfParams,
    /// Shown on the home page: the mail domain this server serves.
    pub domain: String,
    /// Mailboxes, for the API (`None`: the API answers 503).
    pub mail: Option<Arc<crate::app::MailServices>>,
    /// Registration and confirmation (`None`: those pages answer 503).
    pub accounts: Option<Arc<register::AccountServices>>,
    /// The administrator's pages (`None`: they answer 503).
    pub admin: Option<Arc<admin::AdminServices>>,
    /// Directory searches and suggestions per client address.
    pub directory_limit: rate::RateLimit,
}

/// The full router.
pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/healthz", get(pages::health))
        .route("/style.css", get(pages::style))
        .route("/setup", get(setup::form).post(setup::submit))
        .route("/api/v1/session", post(api::login).delete(api::logout))
        .route(
            "/login",
            get(sign_in::login_page).post(sign_in::login_submit),
        )
        .route("/login/code", post(sign_in::submit_code))
        .route("/logout", post(sign_in::logout))
        .route("/directory", get(directory_page::search))
        .route("/register", get(register::choose))
        .route(
            "/register/{kind}",
            get(register::form).post(register::submit),
        )
        .route(
            "/confirm",
            get(register::confirm_page).post(register::confirm_submit),
        )
        .route(
            "/settings",
            get(mail_pages::settings).post(mail_pages::save_settings),
        )
        .route(
            "/compose",
            get(compose::page)
                .post(compose::send)
                .layer(DefaultBodyLimit::max(compose::MAX_FORM_BYTES)),
        )
        .route("/compose.js", get(pages::compose_script))
        .route("/directory/suggest", get(directory_page::suggest))
        .route("/settings/security", get(security::show))
        .route("/settings/password", post(security::change_password))
        .route("/settings/tokens", post(security::new_token))
        .route("/settings/tokens/{id}/revoke", post(security::revoke_token))
        .route("/settings/recovery-code", post(security::new_recovery_code))
        .route("/settings/sessions/{id}/end", post(security::end_session))
        .route("/settings/entry", get(entry::show).post(entry::save))
        .route("/settings/staff", get(staff::show).post(staff::add))
        .route("/settings/staff/{id}/remove", post(staff::remove))
        .route(
            "/settings/staff/{id}/login",
            get(staff::login_page).post(staff::give_login),
        )
        .route("/settings/staff/logins/{id}/off", post(staff::login_off))
        .route("/settings/two-step", get(two_step::show))
        .route("/settings/two-step/start", post(two_step::start))
        .route("/settings/two-step/on", post(two_step::turn_on))
        .route("/settings/two-step/off", post(two_step::turn_off))
        .route("/search", get(mail_pages::search))
        .route("/mail/{folder}", get(mail_pages::folder))
        .route("/mail/{folder}/{uid}", get(mail_pages::message))
        .route(
            "/mail/{folder}/{uid}/attachments/{n}",
            get(mail_pages::attachment),
        )
        .route("/mail/{folder}/{uid}/audit", get(mail_pages::message_audit))
        .route("/mail/{folder}/{uid}/move", post(mail_pages::move_message))
        .route(
            "/mail/{folder}/{uid}/receipt",
            post(mail_pages::send_receipt),
        )
        .route("/admin", get(admin::dashboard))
        .route(
            "/admin/login",
            get(admin::login_page).post(admin::login_submit),
        )
        .route("/admin/logout", post(admin::logout))
        .route("/admin/accounts", get(admin::accounts))
        .route("/admin/accounts/{id}/{action}", post(admin::account_action))
        .route("/admin/letters", get(admin::letters))
        .route("/admin/letters/print", post(admin::print_letters))
        .route("/admin/letters/posted", post(admin::letters_posted))
        .route("/admin/queue", get(admin::queue))
        .route("/admin/log", get(admin::log))
        .route("/admin/login/code", post(admin::two_step::submit_code))
        .route("/admin/two-step", get(admin::two_step::show))
        .route("/admin/two-step/start", post(admin::two_step::start))
        .route("/admin/two-step/on", post(admin::two_step::turn_on))
        .route("/admin/two-step/off", post(admin::two_step::turn_off))
        .route("/admin/catch-all", get(admin::catch_all))
        .route("/admin/catch-all/{name}", get(admin::catch_all_file))
        .route("/api/v1/mailbox", get(api::mailbox))
        .route("/api/v1/changes", get(api::changes))
        .route("/api/v1/folders/{folder}/messages", get(api::messages))
        .route("/api/v1/folders/{folder}/messages/{uid}", get(api::message))
        .route(
            "/api/v1/folders/{folder}/messages/{uid}/audit",
            get(api::message_audit),
        )
        .route("/api/v1/downloads", get(downloads::list))
        .route("/api/v1/downloads/{id}", get(downloads::fetch))
        .route("/api/v1/downloads/{id}/report", post(downloads::report))
        .route(
            "/api/v1/outbox",
            post(outbox::send).layer(DefaultBodyLimit::max(outbox::MAX_UPLOAD)),
        )
        .layer(DefaultBodyLimit::max(64 * 1024))
        .fallback(pages::not_found)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Headers every response carries: a strict Content-Security-Policy (only
/// this site's own script files, no inline script or styles, no framing), HSTS, no MIME sniffing, no
/// referrers, and no caching of pages that may show personal details.
async fn security_headers(req: Request<axum::body::Body>, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    res
}
