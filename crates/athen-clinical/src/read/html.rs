//! HTML letters: structure kept (paragraphs, breaks, bold, italic,
//! underline, headings, lists, links), tables flattened to rows of cells,
//! style, script and images dropped.
//!
//! Read with html5gum's WHATWG tokenizer, one token at a time without
//! building a tree: nothing recurses, so deeply nested or broken markup
//! costs no stack, and memory stays proportional to the text kept.

use crate::document::{Block, Body, Inline, Style};
use html5gum::{DefaultEmitter, Token, Tokenizer};

/// Reads an HTML letter. Never fails: broken markup is read as browsers
/// would, as far as the tokenizer goes.
pub fn read(html: &str) -> Body {
    let mut emitter = DefaultEmitter::default();
    // Raw-text elements (script, style, title, textarea) are tokenized as
    // text, not markup, as a browser would.
    emitter.naively_switch_states(true);
    let mut r = Reader::default();
    for token in Tokenizer::new_with_emitter(html, emitter) {
        let Ok(token) = token;
        match token {
            Token::StartTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                let href = tag
                    .attributes
                    .iter()
                    .find(|(k, _)| k.0.eq_ignore_ascii_case(b"href"))
                    .map(|(_, v)| String::from_utf8_lossy(&v.value).into_owned());
                r.start(&name, href, tag.self_closing);
            }
            Token::EndTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                r.end(&name);
            }
            Token::String(s) => r.text(&String::from_utf8_lossy(&s.value)),
            Token::Comment(_) | Token::Doctype(_) | Token::Error(_) => {}
        }
    }
    r.finish()
}

#[derive(Default)]
struct Reader {
    blocks: Vec<Block>,
    /// The block being filled.
    inlines: Vec<Inline>,
    kind: Pending,
    bold: u32,
    italic: u32,
    underline: u32,
    /// Inside script, style, head, title and the like: nothing is kept.
    skip: u32,
    pre: u32,
    links: Vec<Option<String>>,
    /// One entry per open list: ordered, and the next item number.
    lists: Vec<(bool, u32)>,
    table: Option<Table>,
    /// The last character written was a space (HTML collapses runs).
    space: bool,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Pending {
    #[default]
    Paragraph,
    Heading(u8),
    ListItem(bool, u32),
}

#[derive(Default)]
struct Table {
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell: Option<String>,
    /// Tables inside this one (flattened into its cells).
    nested: u32,
}

const SKIPPED: [&str; 8] = [
    "script", "style", "head", "title", "template", "noscript", "object", "svg",
];

impl Reader {
    fn style(&self) -> Style {
        Style {
            bold: self.bold > 0,
            italic: self.italic > 0,
            underline: self.underline > 0,
        }
    }

    fn start(&mut self, name: &str, href: Option<String>, self_closing: bool) {
        if SKIPPED.contains(&name) {
            if !self_closing {
                self.skip += 1;
            }
            return;
        }
        if self.skip > 0 {
            return;
        }
        if let Some(t) = &mut self.table {
            match name {
                "table" => t.nested += 1,
                "tr" if t.nested == 0 => {
                    Self::end_cell(t);
                    Self::end_row(t);
                }
                "td" | "th" if t.nested == 0 => {
                    Self::end_cell(t);
                    t.cell = Some(String::new());
                }
                "br" | "p" | "div" | "li" => {
                    if let Some(c) = &mut t.cell
                        && !c.is_empty()
                        && !c.ends_with(' ')
                    {
                        c.push(' ');
                    }
                }
                _ => {}
            }
            return;
        }
        match name {
            "b" | "strong" => self.bold += 1,
            "i" | "em" | "cite" => self.italic += 1,
            "u" | "ins" => self.underline += 1,
            "a" => self.links.push(href),
            "br" => {
                self.inlines.push(Inline::Break);
                self.space = true;
            }
            "p" | "div" | "blockquote" | "address" | "section" | "article" | "header"
            | "footer" | "center" | "hr" => self.end_block(Pending::Paragraph),
            "pre" => {
                self.end_block(Pending::Paragraph);
                self.pre += 1;
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = name[1..].parse::<u8>().unwrap_or(3).min(3);
                self.end_block(Pending::Heading(level));
            }
            "ul" | "ol" => {
                self.end_block(Pending::Paragraph);
                self.lists.push((name == "ol", 1));
            }
            "li" => {
                let (ordered, number) = match self.lists.last_mut() {
                    Some((ordered, next)) => {
                        let n = *next;
                        *next += 1;
                        (*ordered, n)
                    }
                    None => (false, 1),
                };
                self.end_block(Pending::ListItem(ordered, number));
            }
            "table" => {
                self.end_block(Pending::Paragraph);
                self.table = Some(Table::default());
            }
            _ => {}
        }
    }

    fn end(&mut self, name: &str) {
        if SKIPPED.contains(&name) {
            self.skip = self.skip.saturating_sub(1);
            return;
        }
        if self.skip > 0 {
            return;
        }
        if let Some(t) = &mut self.table {
            match name {
                "table" if t.nested > 0 => t.nested -= 1,
                "table" => {
                    let mut t = self.table.take().unwrap_or_default();
                    Self::end_cell(&mut t);
                    Self::end_row(&mut t);
                    if !t.rows.is_empty() {
                        self.blocks.push(Block::Table { rows: t.rows });
                    }
                }
                "td" | "th" if t.nested == 0 => Self::end_cell(t),
                "tr" if t.nested == 0 => {
                    Self::end_cell(t);
                    Self::end_row(t);
                }
                _ => {}
            }
            return;
        }
        match name {
            "b" | "strong" => self.bold = self.bold.saturating_sub(1),
            "i" | "em" | "cite" => self.italic = self.italic.saturating_sub(1),
            "u" | "ins" => self.underline = self.underline.saturating_sub(1),
            "a" => {
                self.links.pop();
            }
            "p" | "div" | "blockquote" | "address" | "section" | "article" | "header"
            | "footer" | "center" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "li" => {
                self.end_block(Pending::Paragraph)
            }
            "pre" => {
                self.pre = self.pre.saturating_sub(1);
                self.end_block(Pending::Paragraph);
            }
            "ul" | "ol" => {
                self.lists.pop();
                self.end_block(Pending::Paragraph);
            }
            _ => {}
        }
    }

    fn text(&mut self, s: &str) {
        if self.skip > 0 {
            return;
        }
        if let Some(t) = &mut self.table {
            if let Some(cell) = &mut t.cell {
                for c in s.chars() {
                    if !c.is_whitespace() {
                        cell.push(c);
                    } else if !cell.is_empty() && !cell.ends_with(' ') {
                        cell.push(' ');
                    }
                }
            }
            return;
        }
        let mut out = String::new();
        if self.pre > 0 {
            // Preformatted: keep the lines as they are.
            for (i, line) in s.split('\n').enumerate() {
                if i > 0 {
                    self.push_text(std::mem::take(&mut out));
                    self.inlines.push(Inline::Break);
                }
                out.push_str(line);
            }
        } else {
            for c in s.chars() {
                if c.is_whitespace() {
                    if !self.space && (!self.inlines.is_empty() || !out.is_empty()) {
                        out.push(' ');
                        self.space = true;
                    }
                } else {
                    out.push(c);
                    self.space = false;
                }
            }
        }
        self.push_text(out);
    }

    fn push_text(&mut self, text: String) {
        if text.is_empty() {
            return;
        }
        let style = self.style();
        let link = self.links.iter().rev().find_map(|l| l.clone());
        if let Some(Inline::Text {
            text: last,
            style: s,
            link: l,
        }) = self.inlines.last_mut()
            && *s == style
            && *l == link
        {
            last.push_str(&text);
            return;
        }
        self.inlines.push(Inline::Text { text, style, link });
    }

    fn end_cell(t: &mut Table) {
        if let Some(cell) = t.cell.take() {
            t.row.push(cell.trim().to_string());
        }
    }

    fn end_row(t: &mut Table) {
        if !t.row.is_empty() {
            let row = std::mem::take(&mut t.row);
            if row.iter().any(|c| !c.is_empty()) {
                t.rows.push(row);
            }
        }
    }

    /// Closes the block being filled (if it has text) and starts `next`.
    fn end_block(&mut self, next: Pending) {
        let mut content = std::mem::take(&mut self.inlines);
        // Trailing spaces and breaks carry nothing.
        while let Some(last) = content.last_mut() {
            match last {
                Inline::Break => {
                    content.pop();
                }
                Inline::Text { text, .. } => {
                    let trimmed = text.trim_end().len();
                    text.truncate(trimmed);
                    if text.is_empty() {
                        content.pop();
                    } else {
                        break;
                    }
                }
            }
        }
        if !content.is_empty() {
            self.blocks.push(match self.kind {
                Pending::Paragraph => Block::Paragraph { content },
                Pending::Heading(level) => Block::Heading { level, content },
                Pending::ListItem(ordered, number) => Block::ListItem {
                    ordered,
                    number,
                    content,
                },
            });
        }
        self.kind = next;
        self.space = true;
    }

    fn finish(mut self) -> Body {
        if let Some(mut t) = self.table.take() {
            Self::end_cell(&mut t);
            Self::end_row(&mut t);
            if !t.rows.is_empty() {
                self.blocks.push(Block::Table { rows: t.rows });
            }
        }
        self.end_block(Pending::Paragraph);
        Body {
            blocks: self.blocks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::inline_text;
    use proptest::prelude::*;

    #[test]
    fn structure_is_kept_and_noise_dropped() {
        let body = read(
            "<html><head><title>x</title><style>p{color:red}</style></head><body>\
<h1>Northside  Medical</h1><p>Dear <b>Dr</b> M&uuml;ller,<br>line two</p>\
<script>alert(1)</script><ul><li>one</li><li>two <a href='https://x.example/'>link</a></li></ul>\
<ol><li>first</li></ol><img src=logo.png><p><i>italic</i> and <u>under</u></p></body></html>",
        );
        let b = &body.blocks;
        assert_eq!(b.len(), 6, "{b:#?}");
        assert!(
            matches!(&b[0], Block::Heading { level: 1, content } if inline_text(content) == "Northside Medical")
        );
        let Block::Paragraph { content } = &b[1] else {
            panic!("{b:#?}")
        };
        assert_eq!(inline_text(content), "Dear Dr Müller,\nline two");
        assert!(
            matches!(&content[1], Inline::Text { text, style, .. } if text == "Dr" && style.bold)
        );
        assert!(
            matches!(&b[3], Block::ListItem { ordered: false, number: 2, content } if matches!(&content[1], Inline::Text { link: Some(l), .. } if l == "https://x.example/"))
        );
        assert!(matches!(
            &b[4],
            Block::ListItem {
                ordered: true,
                number: 1,
                ..
            }
        ));
        assert!(
            !body
                .lines()
                .iter()
                .any(|l| l.contains("alert") || l.contains("color"))
        );
    }

    #[test]
    fn tables_become_rows_of_cells() {
        let body = read(
            "<p>Patient details</p><table><tr><td>Name:</td><td><b>SMITH</b>, John</td></tr>\
<tr><th>DOB</th><td>01/02/1960</td></tr><tr><td></td></tr></table><p>After</p>",
        );
        assert_eq!(
            body.blocks[1],
            Block::Table {
                rows: vec![
                    vec!["Name:".into(), "SMITH, John".into()],
                    vec!["DOB".into(), "01/02/1960".into()],
                ]
            }
        );
        assert_eq!(body.lines()[2], "Name:\tSMITH, John");
    }

    #[test]
    fn deep_nesting_costs_no_stack() {
        let html = "<div><b><table><tr><td>".repeat(20_000) + "deep";
        let body = read(&html);
        assert!(body.lines().iter().any(|l| l.contains("deep")));
    }

    proptest! {
        #[test]
        fn any_markup_reads(s in "(<[a-z/]{0,6}( [a-z]+=[a-z']*)?>|[^<]{0,8}|&[a-z#0-9]{0,5};?){0,40}") {
            let _ = read(&s);
        }
    }
}
