//! Mail leaving the server, without its content: the outbound queue,
//! and under `localserve` the catch-all that keeps mail for other domains.

use super::*;

/// `GET /admin/queue`: what waits to be sent, without content.
pub(crate) async fn queue(SignedInOperator { admin, op }: SignedInOperator) -> Response {
    let admin = &*admin;
    let messages = match admin.store.queued_messages().await {
        Ok(m) => m,
        Err(e) => return failed(&op, "queue", e),
    };
    let rows: String = messages
        .iter()
        .flat_map(|m| {
            m.recipients.iter().map(move |r| {
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    m.id.0,
                    escape(&rfc3339(m.created_at)),
                    escape(if m.mail_from.is_empty() { "<> (a report)" } else { &m.mail_from }),
                    escape(&r.address),
                    r.state.as_str(),
                    r.attempts,
                    if r.state == athen_core::queue::RecipientState::Queued {
                        escape(&rfc3339(r.next_attempt_at))
                    } else {
                        String::new()
                    },
                    escape(r.last_reply.as_deref().unwrap_or("not tried yet")),
                )
            })
        })
        .collect();
    let body = if rows.is_empty() {
        "<p>Nothing is waiting to be sent.</p>".to_string()
    } else {
        format!(
            "<p>Only addresses, times and the other servers' replies are shown, never what the letters say.</p>\n\
<table>\n<caption>Outgoing mail</caption>\n<thead><tr><th scope=\"col\">Message</th><th scope=\"col\">Queued (UTC)</th><th scope=\"col\">From</th>\
<th scope=\"col\">To</th><th scope=\"col\">State</th><th scope=\"col\">Attempts</th><th scope=\"col\">Next attempt</th><th scope=\"col\">Last reply</th></tr></thead>\n\
<tbody>\n{rows}</tbody>\n</table>\n<p>To try one again at once: <code>athen admin queue retry ID</code>.</p>"
        )
    };
    admin_page(&op, StatusCode::OK, "Outgoing mail", &body)
}

/// The catch-all's files, newest first: name, size, time.
fn catch_all_files(dir: &std::path::Path) -> std::io::Result<Vec<(String, u64, UnixTime)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let meta = e.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let at = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        out.push((name, meta.len(), at));
    }
    out.sort_by_key(|(n, _, at)| std::cmp::Reverse((*at, n.clone())));
    Ok(out)
}

/// A catch-all file name as listed: no path, nothing hidden.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@+".contains(c))
}

/// `GET /admin/catch-all`: under `localserve`, mail for other domains kept
/// here instead of being sent.
pub(crate) async fn catch_all(SignedInOperator { admin, op }: SignedInOperator) -> Response {
    let admin = &*admin;
    let Some(dir) = &admin.catch_all else {
        return admin_page(
            &op,
            StatusCode::OK,
            "Catch-all",
            "<p>This server sends mail for other domains to their servers; it keeps no catch-all.</p>",
        );
    };
    let files = match catch_all_files(dir) {
        Ok(f) => f,
        Err(e) => return failed(&op, "catch-all", e),
    };
    let rows: String = files
        .iter()
        .filter(|(n, _, _)| safe_name(n))
        .map(|(n, size, at)| {
            format!(
                "<tr><td><a href=\"/admin/catch-all/{0}\">{0}</a></td><td>{size}</td><td>{1}</td></tr>\n",
                escape(n),
                escape(&rfc3339(*at))
            )
        })
        .collect();
    let body = format!(
        "<p>This is a test server (<code>localserve</code>): mail for other domains is not sent but kept in <code>{}</code>, to be looked at here.</p>\n{}",
        escape(&dir.display().to_string()),
        if rows.is_empty() {
            "<p>Nothing has been kept yet.</p>".to_string()
        } else {
            format!(
                "<table>\n<caption>Kept mail</caption>\n<thead><tr><th scope=\"col\">File</th><th scope=\"col\">Bytes</th><th scope=\"col\">Kept (UTC)</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>"
            )
        }
    );
    admin_page(&op, StatusCode::OK, "Catch-all", &body)
}

/// `GET /admin/catch-all/{name}`: one kept message, as a download.
pub(crate) async fn catch_all_file(
    SignedInOperator { admin, op }: SignedInOperator,
    Path(name): Path<String>,
) -> Response {
    let admin = &*admin;
    let not_found = || {
        admin_page(
            &op,
            StatusCode::NOT_FOUND,
            "Catch-all",
            "<p>There is no such file.</p>",
        )
    };
    let Some(dir) = &admin.catch_all else {
        return not_found();
    };
    if !safe_name(&name) {
        return not_found();
    }
    match std::fs::read(dir.join(&name)) {
        Ok(bytes) => {
            let mut res = (StatusCode::OK, bytes).into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("message/rfc822"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => not_found(),
        Err(e) => failed(&op, "catch-all file", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_are_served() {
        for good in ["1733000000-abc.eml", "jane@example.org.eml", "x+y_z-1.eml"] {
            assert!(safe_name(good), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "../etc/passwd",
            "a/b",
            "a\\b",
            "a b",
            "%2e%2e",
        ] {
            assert!(!safe_name(bad), "{bad}");
        }
    }
}
