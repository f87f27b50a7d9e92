//! The pieces a PIT file is built from, made so that text from a letter or
//! a header cannot start a line of its own. A PIT importer reads each line
//! by its three-digit code: a name with a CR LF in it could add a `100`
//! line (another patient) or `301` lines (a result) of the sender's
//! choosing, and a `~` starts PIT markup, which has no escape.
//!
//! So text becomes a [`PitText`] only through [`PitText::new`] (7-bit
//! printable ASCII, control characters as spaces, `~` as `-`) or
//! [`PitText::rtf`] for a body already written as RTF; a [`Line`] is a
//! [`Code`] checked when the program is compiled, then such text and
//! [`Markup`] constants. Nothing outside this module can put a raw string
//! on a line.

use super::super::ascii;

/// Printable ASCII text with no line break and no `~`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PitText(String);

impl PitText {
    pub fn new(text: &str) -> PitText {
        PitText(
            ascii(text)
                .chars()
                .map(|c| match c {
                    '~' => '-',
                    c if c.is_control() => ' ',
                    c => c,
                })
                .collect(),
        )
    }

    /// At most `width` characters of `text`.
    pub fn fit(text: &str, width: usize) -> PitText {
        let mut t = PitText::new(text);
        if let Some((cut, _)) = t.0.char_indices().nth(width) {
            t.0.truncate(cut);
        }
        t
    }

    /// A letter already written as RTF, for pit-rtf's one 301 line: RTF
    /// ignores line breaks, so they go, and a `~` is written as RTF's own
    /// hex escape `\'7e`, which reads the same.
    pub fn rtf(rtf: &str) -> PitText {
        let mut out = String::with_capacity(rtf.len());
        // RTF from our writer is ASCII already; anything else is written
        // as its ASCII form rather than kept.
        for c in ascii(rtf).chars() {
            match c {
                '~' => out.push_str("\\'7e"),
                c if c.is_control() => {}
                c => out.push(c),
            }
        }
        PitText(out)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The words of the text, split at spaces.
    pub fn words(&self) -> impl Iterator<Item = PitText> + '_ {
        self.0.split_whitespace().map(|w| PitText(w.to_string()))
    }

    /// The text split at character `at`: what fits and the rest.
    pub fn split_at_char(&self, at: usize) -> (PitText, PitText) {
        let cut = self
            .0
            .char_indices()
            .nth(at)
            .map_or(self.0.len(), |(i, _)| i);
        (
            PitText(self.0[..cut].to_string()),
            PitText(self.0[cut..].to_string()),
        )
    }
}

/// A line's three-digit code, checked when the program is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code(&'static str);

impl Code {
    pub const fn new(code: &'static str) -> Code {
        let b = code.as_bytes();
        assert!(
            b.len() == 3 && b[0].is_ascii_digit() && b[1].is_ascii_digit() && b[2].is_ascii_digit(),
            "a PIT line code is three digits"
        );
        Code(code)
    }
}

/// PIT markup such as `~SBLD~`, checked when the program is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Markup(&'static str);

impl Markup {
    pub const fn new(m: &'static str) -> Markup {
        let b = m.as_bytes();
        assert!(b.len() >= 2 && b[0] == b'~' && b[b.len() - 1] == b'~');
        let mut i = 1;
        while i < b.len() - 1 {
            assert!(b[i].is_ascii_uppercase(), "PIT markup is ~CAPITALS~");
            i += 1;
        }
        Markup(m)
    }

    pub fn len(self) -> usize {
        self.0.len()
    }
}

/// A PIT line is at most 80 columns (the body's RTF line aside).
const COLUMNS: usize = 80;

/// One line: a code, a space, then content from column 5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    code: Code,
    /// From column 5 on; only [`PitText`], [`Markup`] and padding.
    content: String,
}

impl Line {
    pub fn new(code: Code) -> Line {
        Line {
            code,
            content: String::new(),
        }
    }

    /// A code followed by text.
    pub fn with(code: Code, text: &PitText) -> Line {
        let mut line = Line::new(code);
        line.push(text);
        line
    }

    /// The length of the whole line (code and space included).
    pub fn len(&self) -> usize {
        4 + self.content.len()
    }

    pub fn push(&mut self, text: &PitText) {
        self.content.push_str(&text.0);
    }

    pub fn push_markup(&mut self, m: Markup) {
        self.content.push_str(m.0);
    }

    pub fn push_space(&mut self) {
        self.content.push(' ');
    }

    /// Pads to column `col` (1-based, counting the code) and writes `text`
    /// there, cutting what was already past it and what would go past
    /// column 80.
    pub fn place(&mut self, col: usize, text: &PitText) {
        let at = col.saturating_sub(5);
        while self.content.len() < at {
            self.content.push(' ');
        }
        self.content.truncate(at);
        let room = (COLUMNS - 4).saturating_sub(at);
        self.content.push_str(&text.0[..text.0.len().min(room)]);
    }

    /// The line as written, without its CR LF; no trailing spaces.
    pub fn write(&self) -> String {
        let mut out = format!("{} {}", self.code.0, self.content);
        out.truncate(out.trim_end().len());
        out
    }
}

/// The file: each line ended by CR LF.
pub fn file(lines: &[Line]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line.write().as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn columns_and_trailing_spaces() {
        let mut l = Line::new(Code::new("104"));
        l.push(&PitText::new("Birthdate      :"));
        l.place(38, &PitText::new("01/02/1960"));
        assert_eq!(&l.write()[37..47], "01/02/1960");
        assert_eq!(Line::new(Code::new("002")).write(), "002");
        assert_eq!(
            PitText::rtf("{\\rtf1 a~b\r\n}").as_str(),
            "{\\rtf1 a\\'7eb}"
        );
    }

    proptest! {
        #[test]
        fn text_cannot_break_a_line_or_start_markup(s in "\\PC*|[\\x00-\\x7f]*") {
            for t in [PitText::new(&s), PitText::rtf(&s), PitText::fit(&s, 22)] {
                for b in t.as_str().bytes() {
                    prop_assert!((0x20..0x7f).contains(&b));
                    prop_assert!(b != b'~');
                }
            }
        }
    }
}
