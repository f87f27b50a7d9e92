//! Who is asking, for the web app's pages: the session behind the
//! `__Host-` cookie, as axum extractors a handler names in its arguments.
//!
//! - [`SignedIn`]: a live web session (one an app token opened is never
//!   one, whatever cookie it is put in); otherwise the sign-in page.
//! - [`SignedInForm`]: the same for a form post, with the form read and
//!   its CSRF token checked against the session's (403 if not).
//!
//! Sessions are the vault's (the same as the API's); the token travels in
//! a `__Host-` cookie (Secure, HttpOnly, SameSite=Strict, Path=/), a new
//! one at every sign-in. The CSRF token of a signed-in form is derived from
//! the session token, which no other site can read.

use crate::WebState;
use crate::app::{Caller, MailServices};
use crate::forms::{cookie, same};
use crate::layout::{csrf_of, error_page, forbidden, see_other};
use athen_core::account::Doors;
use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use std::sync::Arc;

pub(crate) const SESSION_COOKIE: &str = "__Host-athen_session";

/// The signed-in caller, or the answer to give instead (sign in first).
pub(crate) async fn signed_in<'a>(
    state: &'a WebState,
    headers: &HeaderMap,
) -> Result<(&'a MailServices, Caller), Response> {
    let mail = crate::app::services(state).map_err(error_page)?;
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Err(see_other("/login"));
    };
    match crate::app::session_of(mail, token).await {
        // A session an app token opened (the API's) is not a web session,
        // whatever cookie it is put in.
        Ok(Some(c)) if c.session.doors.contains(Doors::WEB) => Ok((mail, c)),
        Ok(Some(_)) => Err(see_other("/login")),
        Ok(None) => Err(see_other("/login")),
        Err(e) => Err(error_page(athen_mail::MailError::Store(e).into())),
    }
}

/// A signed-in page's caller and the mail services.
pub(crate) struct SignedIn {
    pub(crate) mail: Arc<MailServices>,
    pub(crate) caller: Caller,
}

impl FromRequestParts<Arc<WebState>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<WebState>,
    ) -> Result<Self, Self::Rejection> {
        let (_, caller) = signed_in(state, &parts.headers).await?;
        let mail = state.mail.clone().ok_or_else(|| {
            error_page(crate::app::ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "mail is not available on this server",
            ))
        })?;
        Ok(SignedIn { mail, caller })
    }
}

/// A form whose CSRF token a signed-in post must carry.
pub(crate) trait WithCsrf {
    fn csrf(&self) -> &str;
}

/// A signed-in form post: the session first (else the sign-in page), then
/// the form, then its CSRF token (else 403).
pub(crate) struct SignedInForm<T> {
    pub(crate) mail: Arc<MailServices>,
    pub(crate) caller: Caller,
    pub(crate) form: T,
}

impl<T> FromRequest<Arc<WebState>> for SignedInForm<T>
where
    T: DeserializeOwned + WithCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &Arc<WebState>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let SignedIn { mail, caller } = SignedIn::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let Form(form) = Form::<T>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !same(form.csrf(), &csrf_of(&caller.token)) {
            return Err(forbidden());
        }
        Ok(SignedInForm { mail, caller, form })
    }
}

/// A form that carries only its CSRF token (a button).
#[derive(serde::Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

impl crate::session::WithCsrf for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Ends a session (API or web). Its hold on the secret goes first, so the
/// mailbox locks at once when this was its last session; its worker is
/// woken to notice.
pub(crate) fn end_session(mail: &MailServices, c: Caller) {
    let mailbox = c.session.mailbox_id;
    let Caller { token, secret, .. } = c;
    drop(secret);
    mail.sessions.close(&token);
    mail.live.wake(mailbox);
}
