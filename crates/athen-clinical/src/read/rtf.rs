//! RTF letters (text/rtf, application/rtf), as word processors and
//! clinical systems write them: paragraphs, line breaks, bold, italic,
//! underline, tables (`\cell`, `\row`), `\'hh` characters in the document's
//! code page, `\uN` Unicode with its fallback skipped (`\ucN`). Font and
//! colour tables, style sheets, document info, pictures, headers, footers,
//! fields' instructions and every `{\*\…}` destination are skipped.
//!
//! One pass over the bytes with an explicit group stack: no recursion, so
//! deeply nested groups cost no call stack, and the stack itself is capped.

use crate::document::{Block, Body, Inline, Style};

/// Groups deeper than this are read as text of the innermost kept group.
const MAX_DEPTH: usize = 512;

#[derive(Clone, Copy, Default)]
struct State {
    style: Style,
    /// Inside a destination that holds no letter text.
    skip: bool,
    /// Fallback characters to skip after `\uN` (`\ucN`, default 1).
    uc: u32,
    /// Inside a table cell paragraph (`\intbl`).
    in_table: bool,
}

/// Destinations whose contents are not the letter's text.
const SKIPPED: [&str; 16] = [
    "fonttbl",
    "colortbl",
    "stylesheet",
    "info",
    "pict",
    "header",
    "footer",
    "headerl",
    "headerr",
    "footerl",
    "footerr",
    "fldinst",
    "object",
    "listtable",
    "listoverridetable",
    "themedata",
];

/// Reads an RTF letter. Text that is not RTF at all is read as plain text.
pub fn read(data: &[u8]) -> Body {
    if !data.starts_with(b"{\\rtf") {
        return super::text::read(&String::from_utf8_lossy(data));
    }
    let mut r = Reader {
        blocks: Vec::new(),
        inlines: Vec::new(),
        rows: Vec::new(),
        row: Vec::new(),
        cell: String::new(),
    };
    let mut stack: Vec<State> = Vec::new();
    let mut depth_over = 0usize;
    let mut state = State {
        uc: 1,
        ..State::default()
    };
    let mut skip_chars = 0u32;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        match b {
            b'{' => {
                if stack.len() < MAX_DEPTH {
                    stack.push(state);
                } else {
                    depth_over += 1;
                }
                i += 1;
                // `{\*\dest …}`: an optional destination, skipped.
                if data[i..].starts_with(b"\\*") {
                    state.skip = true;
                    i += 2;
                }
            }
            b'}' => {
                if depth_over > 0 {
                    depth_over -= 1;
                } else if let Some(s) = stack.pop() {
                    state = s;
                }
                i += 1;
            }
            b'\\' => {
                let (word, param, next) = control(data, i + 1);
                i = next;
                if skip_chars > 0 && !matches!(word.as_str(), "par" | "line") {
                    skip_chars -= 1;
                    // A skipped `\'hh` fallback takes its two hex digits
                    // with it (LibreOffice writes `\u333\'3f`).
                    if word == "'" {
                        i = (i + 2).min(data.len());
                    }
                    continue;
                }
                match word.as_str() {
                    w if SKIPPED.contains(&w) => state.skip = true,
                    "\\" | "{" | "}" => r.text(&word, &state),
                    "'" => {
                        // \'hh: one byte in the code page (Windows-1252).
                        let hex = data.get(i..i + 2).unwrap_or(b"");
                        if let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(hex), 16) {
                            let c = crate::convert::decode_text(&[v]);
                            r.text(&c, &state);
                            i += 2;
                        }
                    }
                    "u" => {
                        if let Some(n) = param {
                            let code = if n < 0 { n + 65_536 } else { n } as u32;
                            if let Some(c) = char::from_u32(code) {
                                r.text(&c.to_string(), &state);
                            }
                            skip_chars = state.uc;
                        }
                    }
                    "uc" => state.uc = param.unwrap_or(1).clamp(0, 10) as u32,
                    "par" | "sect" | "page" => r.paragraph(&state),
                    "line" => r.inlines.push(Inline::Break),
                    "tab" => r.text("\t", &state),
                    "cell" => r.end_cell(),
                    "row" => r.end_row(),
                    "intbl" => state.in_table = true,
                    "pard" => state.in_table = false,
                    "plain" => state.style = Style::default(),
                    "b" => state.style.bold = param != Some(0),
                    "i" => state.style.italic = param != Some(0),
                    "ul" | "uld" | "uldb" | "ulw" => state.style.underline = param != Some(0),
                    "ulnone" => state.style.underline = false,
                    "emdash" => r.text("—", &state),
                    "endash" => r.text("–", &state),
                    "lquote" => r.text("‘", &state),
                    "rquote" => r.text("’", &state),
                    "ldblquote" => r.text("“", &state),
                    "rdblquote" => r.text("”", &state),
                    "bullet" => r.text("•", &state),
                    "~" => r.text("\u{a0}", &state),
                    _ => {}
                }
            }
            b'\r' | b'\n' => i += 1,
            _ => {
                // A run of plain text up to the next special byte.
                let start = i;
                while i < data.len() && !matches!(data[i], b'{' | b'}' | b'\\' | b'\r' | b'\n') {
                    i += 1;
                }
                let mut run = &data[start..i];
                while skip_chars > 0 && !run.is_empty() {
                    run = &run[1..];
                    skip_chars -= 1;
                }
                if !run.is_empty() {
                    let text = crate::convert::decode_text(run);
                    r.text(&text, &state);
                }
            }
        }
    }
    r.paragraph(&state);
    r.end_row();
    r.flush_table();
    Body { blocks: r.blocks }
}

/// A control word or symbol starting at `at` (after the backslash):
/// its name, numeric parameter and where the text goes on.
fn control(data: &[u8], at: usize) -> (String, Option<i64>, usize) {
    let Some(&first) = data.get(at) else {
        return (String::new(), None, at);
    };
    if !first.is_ascii_alphabetic() {
        // A control symbol: \\ \{ \} \' \~ \- \* …
        return ((first as char).to_string(), None, at + 1);
    }
    let mut i = at;
    while i < data.len() && data[i].is_ascii_alphabetic() && i - at < 32 {
        i += 1;
    }
    let word = String::from_utf8_lossy(&data[at..i]).into_owned();
    let mut param = None;
    let num_start = i;
    if i < data.len() && (data[i] == b'-' || data[i].is_ascii_digit()) {
        i += 1;
        while i < data.len() && data[i].is_ascii_digit() && i - num_start < 11 {
            i += 1;
        }
        param = String::from_utf8_lossy(&data[num_start..i]).parse().ok();
    }
    // RTF spec: one space after a control word is part of it.
    if i < data.len() && data[i] == b' ' {
        i += 1;
    }
    (word, param, i)
}

struct Reader {
    blocks: Vec<Block>,
    inlines: Vec<Inline>,
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell: String,
}

impl Reader {
    fn text(&mut self, text: &str, state: &State) {
        if state.skip || text.is_empty() {
            return;
        }
        if state.in_table {
            self.cell.push_str(text);
            return;
        }
        self.flush_table();
        if let Some(Inline::Text {
            text: last, style, ..
        }) = self.inlines.last_mut()
            && *style == state.style
        {
            last.push_str(text);
            return;
        }
        self.inlines.push(Inline::Text {
            text: text.to_string(),
            style: state.style,
            link: None,
        });
    }

    fn paragraph(&mut self, state: &State) {
        if state.skip {
            return;
        }
        if state.in_table {
            self.cell.push(' ');
            return;
        }
        let content = std::mem::take(&mut self.inlines);
        let has_text = content.iter().any(|i| match i {
            Inline::Text { text, .. } => !text.trim().is_empty(),
            Inline::Break => false,
        });
        if has_text {
            self.blocks.push(Block::Paragraph { content });
        }
    }

    fn end_cell(&mut self) {
        let cell = std::mem::take(&mut self.cell);
        self.row
            .push(cell.split_whitespace().collect::<Vec<_>>().join(" "));
    }

    fn end_row(&mut self) {
        if !self.cell.trim().is_empty() {
            self.end_cell();
        }
        let row = std::mem::take(&mut self.row);
        if row.iter().any(|c| !c.is_empty()) {
            self.rows.push(row);
        }
    }

    fn flush_table(&mut self) {
        if !self.rows.is_empty() {
            let rows = std::mem::take(&mut self.rows);
            self.blocks.push(Block::Table { rows });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::inline_text;
    use proptest::prelude::*;

    const LETTER: &str = r#"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Arial;}}{\colortbl;\red0\green0\blue0;}
{\*\generator Msftedit 5.41;}{\info{\title Secret title}}\viewkind4\uc1\pard\f0\fs20 Dear Dr M\'fcller,\par
\par
{\b Re:} Mr Se\u225?n O'BRIEN\line DOB: 01/02/1960\par
\trowd\cellx2000\cellx5000\intbl Medicare:\cell 2123 45670 1\cell\row
\pard Kind regards,\par
{\header Page header}Dr Peter Smith {\ul underlined} \ldblquote q\rdblquote\par
}"#;

    #[test]
    fn a_word_processor_letter() {
        let b = read(LETTER.as_bytes());
        let lines = b.lines();
        assert_eq!(
            lines,
            [
                "Dear Dr Müller,",
                "",
                "Re: Mr Seán O'BRIEN",
                "DOB: 01/02/1960",
                "",
                "Medicare:\t2123 45670 1",
                "",
                "Kind regards,",
                "",
                "Dr Peter Smith underlined “q”"
            ]
        );
        let Block::Paragraph { content } = &b.blocks[1] else {
            panic!()
        };
        assert!(
            matches!(&content[0], Inline::Text { text, style, .. } if text == "Re:" && style.bold)
        );
        assert!(!inline_text(content).contains("Secret"));
    }

    #[test]
    fn deep_nesting_and_garbage() {
        let deep = format!("{{\\rtf1 {}x{}", "{".repeat(100_000), "}".repeat(100_000));
        assert_eq!(read(deep.as_bytes()).lines(), ["x"]);
        assert_eq!(read(b"{\\rtf1 \\u").lines(), Vec::<String>::new());
        assert_eq!(read(b"not rtf").lines(), ["not rtf"]);
        let _ = read(b"{\\rtf1 \\'zz\\u-99999999999999 \\b9999999999999999999 }}}}");
    }

    proptest! {
        #[test]
        fn any_bytes_read(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut d = b"{\\rtf1 ".to_vec();
            d.extend(data);
            let _ = read(&d);
        }
    }
}
