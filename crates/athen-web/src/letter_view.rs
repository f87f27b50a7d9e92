//! How a received letter's body is shown in the browser.
//!
//! A letter written in HTML is shown as HTML, but only after ammonia has
//! kept the harmless part of it: no scripts, no event handlers, no styles,
//! no forms or frames, and no images (an image is remote content: fetching
//! it would tell the sender, or anyone on the way, that the letter was
//! opened, and when). Links keep working but open without a referrer.
//! The page's Content-Security-Policy would block most of this anyway;
//! sanitising first means the markup never reaches the browser at all.

use mail_parser::{Message, PartType};
use std::collections::HashSet;

/// The body of a letter, ready to put inside the page.
pub(crate) enum LetterBody {
    /// Sanitised HTML, safe to insert as it is.
    Html(String),
    /// Plain text, still to be escaped.
    Text(String),
}

/// The letter's first body part: sanitised HTML when the sender wrote
/// HTML, otherwise its text.
pub(crate) fn letter_body(msg: &Message<'_>) -> LetterBody {
    if let Some(PartType::Html(html)) = msg.html_part(0).map(|p| &p.body) {
        return LetterBody::Html(sanitise(html));
    }
    LetterBody::Text(msg.body_text(0).unwrap_or_default().into_owned())
}

/// Keeps only markup that cannot run, fetch or restyle the page.
pub(crate) fn sanitise(html: &str) -> String {
    let schemes: HashSet<&str> = ["https", "http", "mailto", "tel"].into();
    ammonia::Builder::default()
        // Images and other embedded media are remote content.
        .rm_tags(["img", "picture", "source", "video", "audio", "map", "area"])
        .url_schemes(schemes)
        // A relative link has no meaning outside the sender's own site,
        // and here it would point into ATHEN itself.
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;
    use proptest::prelude::*;

    #[test]
    fn nothing_that_runs_fetches_or_restyles_is_kept() {
        let dirty = r#"<p onclick="steal()">Dear Dr Smith,</p>
<script>alert(1)</script><style>body{display:none}</style>
<img src="https://tracker.example/pixel.gif?id=42" alt="x">
<a href="javascript:alert(1)">click</a>
<a href="/logout">relative</a>
<a href="https://example.org/results">results</a>
<iframe src="https://evil.example/"></iframe>
<form action="https://evil.example/"><input name="password"></form>
<p style="background:url(https://tracker.example/bg)">Kind regards</p>"#;
        let clean = sanitise(dirty);
        for gone in [
            "script",
            "onclick",
            "<style",
            "img",
            "tracker",
            "javascript",
            "/logout",
            "iframe",
            "<form",
            "<input",
            "style=",
        ] {
            assert!(!clean.contains(gone), "{gone:?} kept in {clean}");
        }
        assert!(clean.contains("Dear Dr Smith,"));
        assert!(clean.contains("Kind regards"));
        assert!(clean.contains(
            r#"<a href="https://example.org/results" rel="noopener noreferrer nofollow">results</a>"#
        ));
    }

    #[test]
    fn an_html_letter_is_shown_as_html_and_a_text_letter_as_text() {
        let html = b"From: a@b.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
plain version\r\n--b\r\nContent-Type: text/html\r\n\r\n<p><b>bold</b> version</p><script>x()</script>\r\n--b--\r\n";
        let msg = MessageParser::default().parse(&html[..]).unwrap();
        match letter_body(&msg) {
            LetterBody::Html(h) => {
                assert!(h.contains("<b>bold</b>"), "{h}");
                assert!(!h.contains("script"));
            }
            LetterBody::Text(t) => panic!("HTML letter shown as text: {t}"),
        }
        let text = b"From: a@b.test\r\nSubject: x\r\n\r\n<b>not markup</b>\r\n";
        let msg = MessageParser::default().parse(&text[..]).unwrap();
        match letter_body(&msg) {
            LetterBody::Text(t) => assert!(t.contains("<b>not markup</b>")),
            LetterBody::Html(h) => panic!("text letter taken as HTML: {h}"),
        }
    }

    proptest! {
        /// Whatever arrives, what is kept has no script, handler or image.
        #[test]
        fn any_input_comes_out_harmless(s in "[^=]{0,400}", tag in "(script|img|iframe|object|embed|svg)") {
            let input = format!("<{tag} src=\"https://x.test/\" onload=\"y()\">{s}</{tag}><p onmouseover=\"z()\">{s}</p>");
            let clean = sanitise(&input);
            let lower = clean.to_ascii_lowercase();
            for bad in ["<script", "<img", "<iframe", "<object", "<embed", "<svg", "onload=", "onmouseover="] {
                prop_assert!(!lower.contains(bad), "{} kept in {}", bad, clean);
            }
        }
    }
}
