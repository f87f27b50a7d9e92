//! The administrator's sign-in (password, then the code when two-step
//! sign-in is on) and sign-out.

use super::*;

pub(super) fn login_form(csrf: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    layout(
        "Administrator sign-in",
        &format!(
            "<h1>Administrator sign-in</h1>\n{error}<p>For the people who run this server. Practices sign in <a href=\"/login\">here</a>.</p>\n\
<form method=\"post\" action=\"/admin/login\">\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
<label for=\"login\">Administrator user name</label><input id=\"login\" name=\"login\" required autocomplete=\"username\">\n\
<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" required autocomplete=\"current-password\">\n\
<button type=\"submit\">Sign in</button>\n</form>",
            escape(csrf)
        ),
    )
}

/// `GET /admin/login`
pub(crate) async fn login_page() -> Response {
    crate::forms::page_with_form_token(ADMIN_LOGIN_COOKIE, |csrf| login_form(csrf, None))
}

/// `POST /admin/login`: a new operator session.
/// A verifier no password matches, made once with the server's Argon2
/// settings, for operator names that do not exist.
async fn unknown_operator_verifier(kdf: athen_vault::KdfParams) -> Vec<u8> {
    static VERIFIER: tokio::sync::OnceCell<Vec<u8>> = tokio::sync::OnceCell::const_new();
    VERIFIER
        .get_or_init(|| async move {
            let random = codes::new_bootstrap_token().unwrap_or_default();
            athen_vault::auth::kdf_work(move || codes::password_verifier(random.as_bytes(), kdf))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default()
        })
        .await
        .clone()
}

pub(crate) async fn login_submit(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<crate::app::PeerAddr>>,
    Form(f): Form<crate::sign_in::LoginForm>,
) -> Response {
    let admin = match services(&state).await {
        Ok(a) => a,
        Err(res) => return res,
    };
    let Some(expected) = crate::forms::sign_in_form_token(&headers, ADMIN_LOGIN_COOKIE, &f.csrf)
    else {
        return crate::layout::forbidden();
    };
    let again =
        |status, msg: &str| (status, Html(login_form(&expected, Some(msg)))).into_response();
    let now = state.clock.now();
    let name = f.login.trim().to_ascii_lowercase();
    let source = peer.map(|p| p.0.0.ip());
    // Counted before the Argon2 work, as every sign-in is.
    let reserved = match admin
        .throttle
        .reserve(&name, source, Attempt::Password, state.clock.as_ref())
        .await
    {
        Ok(r) => r,
        Err(athen_vault::VaultError::Throttled { retry_after_secs }) => {
            return again(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "Too many attempts that did not work. Please wait {} minute(s).",
                    retry_after_secs.div_ceil(60)
                ),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "operator sign-in failed");
            return again(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server could not sign you in.",
            );
        }
    };
    let found = match state.operators.operator_by_login(&name).await {
        Ok(o) => o,
        Err(e) => {
            admin.throttle.settle(reserved, Outcome::NotCounted);
            tracing::error!(error = %e, "operator sign-in failed");
            return again(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server could not sign you in.",
            );
        }
    };
    // An unknown login costs the same single Argon2 run as a wrong
    // password: against a verifier made once, off the async threads.
    let verifier = match &found {
        Some(o) => o.verifier.clone(),
        None => unknown_operator_verifier(state.kdf).await,
    };
    let password = zeroize::Zeroizing::new(f.password.as_bytes().to_vec());
    let right = athen_vault::auth::kdf_work(move || codes::verify_password(&verifier, &password))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(false);
    let Some(op) = found.filter(|_| right) else {
        admin.throttle.settle(reserved, Outcome::Failed);
        tracing::info!(login = %name, source = ?source, "failed operator sign-in");
        return again(
            StatusCode::UNAUTHORIZED,
            "The user name or password is not right.",
        );
    };
    // With two-step sign-in, the code comes next; the attempt is settled
    // when it does.
    if let Some(sealed) = &op.totp_sealed {
        admin.throttle.settle(reserved, Outcome::NotCounted);
        return match athen_vault::totp::TotpKey::open_for_operator(
            &admin.letters_key,
            op.id,
            sealed,
        ) {
            Ok(key) => two_step::ask_for_code(admin, &expected, op, key, now),
            Err(e) => {
                tracing::error!(error = %e, "an operator's two-step key cannot be opened");
                again(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Your two-step key cannot be read; ask another administrator to turn it off.",
                )
            }
        };
    }
    admin.throttle.settle(reserved, Outcome::SignedIn);
    start_session(admin, &op, now)
}

/// A new administrator session for `op`: the Server page, with its cookie.
pub(super) fn start_session(
    admin: &AdminServices,
    op: &athen_core::account::Operator,
    now: UnixTime,
) -> Response {
    let token = match codes::new_bootstrap_token() {
        Ok(t) => t,
        Err(e) => {
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                &escape(&e.to_string()),
            );
        }
    };
    admin
        .lock()
        .retain(|_, s| now - s.last < IDLE_SECONDS && now - s.started < MAX_SECONDS);
    admin.lock().insert(
        key_of(&token),
        OperatorSession {
            id: op.id,
            login: op.login.clone(),
            name: op.name.clone(),
            started: now,
            last: now,
        },
    );
    tracing::info!(operator = %op.login, "operator signed in");
    let mut res = see_other("/admin");
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(ADMIN_COOKIE, &token, None));
    h.append(
        header::SET_COOKIE,
        set_cookie(ADMIN_LOGIN_COOKIE, "", Some(0)),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(two_step::STEP_COOKIE, "", Some(0)),
    );
    res
}

/// `POST /admin/logout`
pub(crate) async fn logout(
    OperatorForm { admin, op, form: _ }: OperatorForm<crate::session::CsrfForm>,
) -> Response {
    admin.lock().remove(&key_of(&op.token));
    let mut res = see_other("/admin/login");
    res.headers_mut()
        .append(header::SET_COOKIE, set_cookie(ADMIN_COOKIE, "", Some(0)));
    res
}
