//! Plain-text letters: a blank line ends a paragraph, a line break stays a
//! line break, `*word*` is bold (the convention ATHEN always read).

use crate::document::{Block, Body, Inline, Style};

/// Reads a plain-text letter. Never fails: any text is a letter.
pub fn read(text: &str) -> Body {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut blocks = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        if line.trim().is_empty() {
            if !current.is_empty() {
                blocks.push(paragraph(&current));
                current.clear();
            }
        } else {
            current.push(line.trim_end());
        }
    }
    if !current.is_empty() {
        blocks.push(paragraph(&current));
    }
    Body { blocks }
}

fn paragraph(lines: &[&str]) -> Block {
    let mut content = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            content.push(Inline::Break);
        }
        emphasis(line, &mut content);
    }
    Block::Paragraph { content }
}

/// `*word*` (whole words, no spaces just inside the stars) becomes bold.
fn emphasis(line: &str, out: &mut Vec<Inline>) {
    let mut plain = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('*') {
        let after = &rest[start + 1..];
        let at_word_start = rest[..start]
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || "([\"'".contains(c));
        let close = after.find('*');
        match close {
            Some(end)
                if at_word_start
                    && end > 0
                    && !after.starts_with(char::is_whitespace)
                    && !after[..end].ends_with(char::is_whitespace) =>
            {
                plain.push_str(&rest[..start]);
                if !plain.is_empty() {
                    out.push(text(std::mem::take(&mut plain), Style::default()));
                }
                out.push(text(
                    after[..end].to_string(),
                    Style {
                        bold: true,
                        ..Style::default()
                    },
                ));
                rest = &after[end + 1..];
            }
            _ => {
                plain.push_str(&rest[..=start]);
                rest = after;
            }
        }
    }
    plain.push_str(rest);
    if !plain.is_empty() {
        out.push(text(plain, Style::default()));
    }
}

fn text(text: String, style: Style) -> Inline {
    Inline::Text {
        text,
        style,
        link: None,
    }
}

/// RFC 3676 §4.2: undoes format=flowed (soft breaks after a trailing
/// space are joined; space-stuffing removed; with DelSp=yes the space goes
/// too). The signature separator "-- " is never joined.
pub fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut joining = false;
    let text = text.replace("\r\n", "\n");
    let ends_with_newline = text.ends_with('\n');
    let body = text.strip_suffix('\n').unwrap_or(&text);
    for raw in body.split('\n') {
        let line = raw.strip_prefix(' ').unwrap_or(raw);
        let soft = line.ends_with(' ') && line != "-- ";
        if soft {
            let kept = if delsp { &line[..line.len() - 1] } else { line };
            out.push_str(kept);
        } else {
            out.push_str(line);
            out.push('\n');
        }
        joining = soft;
    }
    if joining {
        out.push('\n');
    }
    if out.ends_with('\n') && !ends_with_newline {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paragraphs_breaks_and_bold() {
        let b = read("Dear Dr Smith,\r\n\r\nThe *urgent* part\nis 2*3*4.\n\n\n");
        assert_eq!(b.blocks.len(), 2);
        let Block::Paragraph { content } = &b.blocks[1] else {
            panic!()
        };
        assert_eq!(content.len(), 5);
        assert!(
            matches!(&content[1], Inline::Text { text, style, .. } if text == "urgent" && style.bold)
        );
        assert_eq!(content[3], Inline::Break);
        assert!(
            matches!(&content[4], Inline::Text { text, style, .. } if text == "is 2*3*4." && !style.bold)
        );
    }

    #[test]
    fn flowed_text_is_joined() {
        assert_eq!(
            unflow("This is one \r\nline.\r\n>Quoted\r\n", false),
            "This is one line.\n>Quoted\n"
        );
        assert_eq!(unflow("Hal\r\nlo", true), "Hal\nlo");
        assert_eq!(unflow("Hal \r\nlo", true), "Hallo");
        assert_eq!(unflow(" From here\r\n", false), "From here\n");
        assert_eq!(unflow("-- \r\nDr X\r\n", false), "-- \nDr X\n");
    }

    proptest! {
        #[test]
        fn any_text_reads_and_keeps_its_words(s in "\\PC{0,200}") {
            let body = read(&s);
            let words: usize = s.split_whitespace().filter(|w| !w.chars().all(|c| c == '*')).count();
            let kept: usize = body.lines().iter().map(|l| l.split_whitespace().count()).sum();
            prop_assert!(kept <= s.split_whitespace().count() + s.matches('*').count());
            prop_assert!(kept + s.matches('*').count() >= words);
            let _ = unflow(&s, true);
        }
    }
}
