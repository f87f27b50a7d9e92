//! The pieces an HL7 v2 message is built from, made so that text from a
//! letter or a header cannot add a segment, a field or a component of its
//! own. A hostile sender controls every name, address and line of text
//! that ends up in the file the clinical system imports; if one `\r` or `|`
//! got through unescaped, it could file a second PID (someone else's
//! Medicare number) or an OBX result of its choosing.
//!
//! So text becomes a [`Text`] only through [`Text::new`], which escapes
//! every delimiter (v2.4 §2.7) and turns control characters into spaces;
//! [`Component`]s, [`Field`]s and [`Segment`]s are joined from those, and
//! the only other way in is a [`Fixed`] constant, checked when the program
//! is compiled. Nothing outside this module can put a raw string into a
//! message.

use super::super::ascii;

/// HL7 v2 escaping (v2.4 §2.7): the escape character first, then the
/// field, component, subcomponent and repetition separators. Control
/// characters (the segment terminator CR among them) cannot be escaped in
/// HL7 v2 and become spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\E\\"),
            '|' => out.push_str("\\F\\"),
            '^' => out.push_str("\\S\\"),
            '&' => out.push_str("\\T\\"),
            '~' => out.push_str("\\R\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text: 7-bit ASCII with no delimiter and no control character
/// except inside an escape sequence this module wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(String);

impl Text {
    /// Any text, in ASCII (accents dropped), escaped.
    pub fn new(text: &str) -> Text {
        Text(escape(&ascii(text)))
    }

    /// At most `max` characters of `text` (before escaping), trimmed: for
    /// fields with a length limit such as HD's 20.
    pub fn shortened(text: &str, max: usize) -> Text {
        let plain = ascii(text);
        let short: String = plain.trim().chars().take(max).collect();
        Text::new(short.trim_end())
    }

    /// `\H\`: start of highlighted (bold) text in an FT field (v2.4 §2.7.6).
    pub fn highlight() -> Text {
        Text("\\H\\".into())
    }

    /// `\N\`: back to normal text.
    pub fn normal() -> Text {
        Text("\\N\\".into())
    }

    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, more: &Text) {
        self.0.push_str(&more.0);
    }

    /// The characters a reader sees (escape sequences take none).
    fn visible_len(&self) -> usize {
        super::unescape(&self.0).chars().count()
    }

    /// The words of the text: escape sequences hold no space, so a cut at
    /// a space never splits one.
    fn words(&self) -> impl Iterator<Item = Text> + '_ {
        self.0.split(' ').map(|w| Text(w.to_string()))
    }

    /// Splits the text at spaces into lines that show in `width` columns
    /// and are at most `max_bytes` long; a word longer than that is cut,
    /// never inside an escape sequence.
    pub fn wrap(&self, width: usize, max_bytes: usize) -> Vec<Text> {
        let mut out = Vec::new();
        let mut current = Text::default();
        for word in self.words() {
            let mut candidate = current.clone();
            if !current.is_empty() {
                candidate.0.push(' ');
            }
            candidate.push(&word);
            if !current.is_empty()
                && (candidate.visible_len() > width || candidate.0.len() > max_bytes)
            {
                out.push(std::mem::replace(&mut current, word));
            } else {
                current = candidate;
            }
            while current.0.len() > max_bytes {
                let cut = safe_cut(&current.0, max_bytes);
                let rest = current.0.split_off(cut);
                out.push(std::mem::replace(&mut current, Text(rest)));
            }
        }
        out.push(current);
        out
    }
}

/// The largest cut at or before `max` bytes that is on a character
/// boundary and outside any `\X\` escape; at least one character.
fn safe_cut(s: &str, max: usize) -> usize {
    let mut inside = false;
    let mut best = 0;
    for (i, c) in s.char_indices() {
        if i > max {
            break;
        }
        if !inside {
            best = i;
        }
        if c == '\\' {
            inside = !inside;
        }
    }
    if best == 0 {
        // No safe place (one enormous escape): cut at a character boundary.
        let mut cut = max.min(s.len());
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        best = cut.max(s.chars().next().map_or(1, char::len_utf8));
    }
    best
}

/// A constant written in this program, such as `ORU^R01^ORU_R01`: it may
/// hold component (`^`) and subcomponent (`&`) separators, never a field
/// separator, an escape or a control character. [`Fixed::new`] is a
/// `const fn`, so a bad constant stops the build.
#[derive(Clone, Copy, Debug)]
pub struct Fixed(&'static str);

impl Fixed {
    pub const fn new(s: &'static str) -> Fixed {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            assert!(
                c >= 0x20 && c < 0x7f && c != b'|' && c != b'\\' && c != b'~',
                "an HL7 constant holds a field separator, escape, repetition or control character"
            );
            i += 1;
        }
        Fixed(s)
    }
}

/// One component, or subcomponents joined by `&`.
#[derive(Clone, Debug, Default)]
pub struct Component(String);

impl Component {
    pub fn text(text: &str) -> Component {
        Component(Text::new(text).0)
    }

    /// `bytes` in base64 (ED data, such as the PDF display). The base64
    /// alphabet holds no delimiter, so the encoder's output goes in as it
    /// is: no pass over megabytes to turn it into ASCII and escape it.
    pub fn base64(bytes: &[u8]) -> Component {
        use base64::Engine;
        Component(base64::engine::general_purpose::STANDARD.encode(bytes))
    }
}

impl From<Text> for Component {
    fn from(t: Text) -> Component {
        Component(t.0)
    }
}

impl From<Fixed> for Component {
    fn from(f: Fixed) -> Component {
        Component(f.0.to_string())
    }
}

/// One field: components joined by `^`, or repetitions of those joined
/// by `~`. Trailing empty components are left out (v2.4 §2.5.3).
#[derive(Clone, Debug, Default)]
pub struct Field(String);

impl Field {
    pub fn text(text: &str) -> Field {
        Field(Text::new(text).0)
    }

    pub fn components<I: IntoIterator<Item = Component>>(parts: I) -> Field {
        let joined: Vec<String> = parts.into_iter().map(|c| c.0).collect();
        Field(joined.join("^").trim_end_matches('^').to_string())
    }

    pub fn repeated<I: IntoIterator<Item = Field>>(repetitions: I) -> Field {
        let joined: Vec<String> = repetitions.into_iter().map(|f| f.0).collect();
        Field(joined.join("~"))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Text> for Field {
    fn from(t: Text) -> Field {
        Field(t.0)
    }
}

impl From<Fixed> for Field {
    fn from(f: Fixed) -> Field {
        Field(f.0.to_string())
    }
}

impl From<Component> for Field {
    fn from(c: Component) -> Field {
        Field(c.0)
    }
}

/// A segment: its name and fields by HL7 number (`PID-5` is
/// `set(5, …)`). For MSH, field 1 is the field separator and field 2 the
/// encoding characters, both written by [`Segment::write`].
#[derive(Clone, Debug)]
pub struct Segment {
    name: SegmentName,
    fields: Vec<Field>,
}

/// The three capital letters or digits of a segment's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentName(&'static str);

impl SegmentName {
    pub const fn new(name: &'static str) -> SegmentName {
        let b = name.as_bytes();
        assert!(
            b.len() == 3
                && (b[0].is_ascii_uppercase())
                && (b[1].is_ascii_uppercase() || b[1].is_ascii_digit())
                && (b[2].is_ascii_uppercase() || b[2].is_ascii_digit()),
            "an HL7 segment name is three capital letters or digits"
        );
        SegmentName(name)
    }
}

impl Segment {
    pub fn new(name: SegmentName) -> Segment {
        Segment {
            name,
            fields: Vec::new(),
        }
    }

    /// Sets field `n` (1-based, HL7 numbering).
    pub fn set(mut self, n: usize, field: impl Into<Field>) -> Segment {
        let is_msh = self.name.0 == "MSH";
        // MSH-1 and MSH-2 are the separators themselves.
        if n == 0 || (is_msh && n <= 2) {
            return self;
        }
        let first = if is_msh { 3 } else { 1 };
        let at = n - first;
        if self.fields.len() <= at {
            self.fields.resize(at + 1, Field::default());
        }
        self.fields[at] = field.into();
        self
    }

    /// The segment without its terminator; trailing empty fields are left
    /// out (v2.4 §2.5.3).
    pub fn write(&self) -> String {
        let mut out = String::from(self.name.0);
        if self.name.0 == "MSH" {
            out.push_str("|^~\\&");
        }
        let last = self
            .fields
            .iter()
            .rposition(|f| !f.is_empty())
            .map_or(0, |i| i + 1);
        for f in &self.fields[..last] {
            out.push('|');
            out.push_str(&f.0);
        }
        out
    }
}

/// A whole message: segments, each ended by CR (v2.4 §2.5.1).
pub fn message(segments: &[Segment]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for s in segments {
        bytes.extend_from_slice(s.write().as_bytes());
        bytes.push(b'\r');
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fields_are_joined_and_trailing_empties_left_out() {
        const PID: SegmentName = SegmentName::new("PID");
        let s = Segment::new(PID)
            .set(1, Fixed::new("1"))
            .set(
                5,
                Field::components([
                    Component::text("O'Brien|X"),
                    Component::text("Sean"),
                    Component::default(),
                ]),
            )
            .set(9, Field::default());
        assert_eq!(s.write(), "PID|1||||O'Brien\\F\\X^Sean");
        const MSH: SegmentName = SegmentName::new("MSH");
        let msh = Segment::new(MSH)
            .set(3, Field::text("A"))
            .set(4, Field::text("B"));
        assert_eq!(msh.write(), "MSH|^~\\&|A|B");
    }

    #[test]
    fn base64_holds_no_delimiter() {
        let c = Component::base64(&(0..=255u8).collect::<Vec<_>>());
        assert!(
            c.0.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
    }

    #[test]
    fn wrapping_never_cuts_an_escape() {
        let t = Text::new(&"a|".repeat(200));
        for piece in t.wrap(78, 199) {
            assert!(piece.as_str().len() <= 199);
            assert_eq!(piece.as_str().matches('\\').count() % 2, 0);
        }
    }

    proptest! {
        /// Whatever the text, a component made of it holds no separator,
        /// no line break and nothing outside printable ASCII.
        #[test]
        fn text_cannot_hold_a_delimiter(s in "\\PC*|[\\x00-\\x7f]*") {
            let f = Field::text(&s);
            for b in f.0.bytes() {
                prop_assert!((0x20..0x7f).contains(&b));
                prop_assert!(!b"|^&~".contains(&b));
            }
            // Escape sequences come in pairs of backslashes.
            prop_assert_eq!(f.0.matches('\\').count() % 2, 0);
        }
    }
}
