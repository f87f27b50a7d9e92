//! The letter body as RTF 1.x on one line (for pit-rtf, and later an RTF
//! display beside another display in HL7). ASCII only: other characters
//! are written as `\uN?` escapes (RFC-free, RTF 1.5 §"Unicode RTF").

use crate::document::{Block, Body, Inline, Style};

/// A complete RTF document with the body's text and formatting.
pub fn body(body: &Body, title: &str) -> String {
    let mut out = String::from("{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\fswiss Arial;}}");
    out.push_str("{\\info{\\title ");
    escape(title, &mut out);
    out.push_str("}}\\f0\\fs20 ");
    for block in &body.blocks {
        match block {
            Block::Paragraph { content } => inlines(content, &mut out),
            Block::Heading { content, .. } => {
                out.push_str("{\\b\\fs26 ");
                inlines(content, &mut out);
                out.push('}');
            }
            Block::ListItem {
                ordered,
                number,
                content,
            } => {
                if *ordered {
                    out.push_str(&format!("{number}.\\tab "));
                } else {
                    out.push_str("\\bullet\\tab ");
                }
                inlines(content, &mut out);
            }
            Block::Table { rows } => {
                for (i, row) in rows.iter().enumerate() {
                    if i > 0 {
                        out.push_str("\\line ");
                    }
                    for (j, cell) in row.iter().enumerate() {
                        if j > 0 {
                            out.push_str("\\tab ");
                        }
                        escape(cell, &mut out);
                    }
                }
            }
        }
        out.push_str("\\par ");
    }
    out.push('}');
    out
}

fn inlines(content: &[Inline], out: &mut String) {
    for i in content {
        match i {
            Inline::Break => out.push_str("\\line "),
            Inline::Text { text, style, .. } => {
                let Style {
                    bold,
                    italic,
                    underline,
                } = *style;
                let styled = bold || italic || underline;
                if styled {
                    out.push('{');
                    if bold {
                        out.push_str("\\b");
                    }
                    if italic {
                        out.push_str("\\i");
                    }
                    if underline {
                        out.push_str("\\ul");
                    }
                    out.push(' ');
                }
                escape(text, out);
                if styled {
                    out.push('}');
                }
            }
        }
    }
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\line "),
            c if c.is_control() => {}
            c if c.is_ascii() => out.push(c),
            c => {
                // RTF \uN takes a signed 16-bit value; characters beyond
                // the BMP go as a surrogate pair.
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{}?", *unit as i16));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::html;

    #[test]
    fn formatting_and_escapes() {
        let b =
            html::read("<h1>Title</h1><p>Dear <b>Dr</b> Müller {x}\\ 😀</p><ul><li>one</li></ul>");
        let rtf = body(&b, "Letter");
        assert!(rtf.starts_with("{\\rtf1\\ansi"));
        assert!(rtf.ends_with('}'));
        assert!(rtf.is_ascii());
        assert!(!rtf.contains('\n'));
        assert!(rtf.contains("{\\b Dr}"));
        assert!(rtf.contains("M\\u252?ller \\{x\\}\\\\ \\u-10179?\\u-8704?"));
        assert!(rtf.contains("\\bullet\\tab one"));
        let opens = rtf.matches('{').count() - rtf.matches("\\{").count();
        let closes = rtf.matches('}').count() - rtf.matches("\\}").count();
        assert_eq!(opens, closes, "balanced groups");
    }
}
