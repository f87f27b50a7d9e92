//! Welcome letters: those waiting, printed in one PDF, marked posted.

use super::*;

/// `GET /admin/letters`: the welcome letters waiting, to print in one PDF
/// and mark as posted.
pub(crate) async fn letters(SignedInOperator { admin, op }: SignedInOperator) -> Response {
    let admin = &*admin;
    let found = async {
        let mut rows = Vec::new();
        for l in admin.store.welcome_letters(true).await? {
            if let Some(a) = admin.store.account(l.account_id).await? {
                rows.push((l, a));
            }
        }
        Ok::<_, athen_core::StoreError>(rows)
    }
    .await;
    let rows = match found {
        Ok(r) => r,
        Err(e) => return failed(&op, "letters", e),
    };
    let csrf = csrf_of(&op.token);
    let waiting = rows.iter().filter(|(l, _)| l.posted_at.is_none()).count();
    let list: String = rows
        .iter()
        .map(|(l, a)| {
            format!(
                "<tr><td><input type=\"checkbox\" id=\"posted-{0}\" name=\"account\" value=\"{0}\"{3}> <label class=\"inline\" for=\"posted-{0}\">{1}</label></td>\
<td>{2}</td><td>{4}</td><td>{5}</td></tr>\n",
                a.id.0,
                escape(&a.name),
                escape(&a.address),
                if l.posted_at.is_none() { " checked" } else { "" },
                day(l.created_at),
                l.posted_at.map(day).unwrap_or_else(|| "not yet".into()),
            )
        })
        .collect();
    let body = if rows.is_empty() {
        "<p>No welcome letters are waiting: every account is confirmed or its letter posted and answered.</p>".to_string()
    } else {
        format!(
            "<p>{waiting} letter(s) to print and post. Print them all on plain A4 paper; each page folds to fit a DL window envelope.</p>\n\
<form method=\"post\" action=\"/admin/letters/print\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\">Print the waiting letters (PDF)</button>\n</form>\n\
<form method=\"post\" action=\"/admin/letters/posted\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
<table>\n<caption>Welcome letters</caption>\n<thead><tr><th scope=\"col\">Posted now</th><th scope=\"col\">Address</th>\
<th scope=\"col\">Made</th><th scope=\"col\">Posted</th></tr></thead>\n<tbody>\n{list}</tbody>\n</table>\n\
<button type=\"submit\">Mark the ticked letters as posted</button>\n</form>\n\
<p>A letter that got lost: make a new one from <a href=\"/admin/accounts?status=provisional\">the account</a> (New letter).</p>"
        )
    };
    admin_page(&op, StatusCode::OK, "Welcome letters", &body)
}

/// `POST /admin/letters/print`: the PDF of every letter not yet posted.
pub(crate) async fn print_letters(
    State(state): State<Arc<WebState>>,
    OperatorForm { admin, op, form: _ }: OperatorForm<ActionForm>,
) -> Response {
    let admin = &*admin;
    let batch = crate::welcome_letter::print_waiting(
        admin.store.as_ref(),
        &admin.letters_key,
        false,
        &admin.confirm_url,
        &admin.hostname,
        state.clock.now(),
    )
    .await;
    match batch {
        Ok(Some(b)) => {
            tracing::info!(operator = %op.session.login, letters = b.accounts.len(), "welcome letters printed");
            let mut res = (StatusCode::OK, b.pdf).into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"welcome-letters.pdf\""),
            );
            res
        }
        Ok(None) => admin_page(
            &op,
            StatusCode::NOT_FOUND,
            "Welcome letters",
            "<p>No letters are waiting to be printed.</p>",
        ),
        Err(e) => failed(&op, "print letters", e),
    }
}

/// `POST /admin/letters/posted`: the ticked letters are in the post. The
/// form repeats `account`, once per ticked letter.
pub(crate) async fn letters_posted(
    State(state): State<Arc<WebState>>,
    SignedInOperator { admin, op }: SignedInOperator,
    body: axum::body::Bytes,
) -> Response {
    let mut csrf = String::new();
    let mut ids = Vec::new();
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "csrf" => csrf = v.into_owned(),
            "account" => match v.parse::<i64>() {
                Ok(id) => ids.push(AccountId(id)),
                Err(_) => {
                    return page(
                        StatusCode::BAD_REQUEST,
                        "Not done",
                        "<p>The form was not right.</p>",
                    );
                }
            },
            _ => {}
        }
    }
    if !same(&csrf, &csrf_of(&op.token)) {
        return crate::layout::forbidden();
    }
    let now = state.clock.now();
    for id in &ids {
        let event = athen_core::account::AccountEvent {
            account_id: *id,
            at: now,
            actor: actor(&op.session),
            event: "welcome-letter-posted".into(),
            detail: "the welcome letter was posted".into(),
        };
        if let Err(e) = admin.store.mark_letter_posted(*id, event).await {
            return failed(&op, "letters posted", e);
        }
    }
    tracing::info!(operator = %op.session.login, letters = ids.len(), "welcome letters marked posted");
    see_other("/admin/letters")
}
