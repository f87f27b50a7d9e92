//! What a byte of a simple font means when the font has no `ToUnicode`
//! map: the base encodings of ISO 32000-1 Annex D (Standard, WinAnsi,
//! MacRoman) and the Adobe Glyph List names a `Differences` array uses.

/// A base encoding of a simple font (ISO 32000-1 §9.6.6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseEncoding {
    Standard,
    WinAnsi,
    MacRoman,
}

impl BaseEncoding {
    pub fn from_name(name: &[u8]) -> Option<BaseEncoding> {
        match name {
            b"StandardEncoding" => Some(BaseEncoding::Standard),
            b"WinAnsiEncoding" => Some(BaseEncoding::WinAnsi),
            b"MacRomanEncoding" => Some(BaseEncoding::MacRoman),
            _ => None,
        }
    }

    /// The character a code stands for, if any.
    pub fn char(self, code: u8) -> Option<char> {
        match self {
            BaseEncoding::WinAnsi => match code {
                // Annex D.2 note 6: every unused code above 0o40 is a bullet
                // (reportlab draws "•" as 0x7F).
                0x7f | 0x81 | 0x8d | 0x8f | 0x90 | 0x9d => Some('•'),
                // Annex D.2 names 0xAD "hyphen", not a soft hyphen.
                0xad => Some('-'),
                0x00..=0x1f => None,
                _ => Some(crate::convert::cp1252(code)),
            },
            BaseEncoding::MacRoman => match code {
                0x20..=0x7e => Some(char::from(code)),
                0x80..=0xff => MAC_ROMAN_HIGH[usize::from(code - 0x80)],
                _ => None,
            },
            BaseEncoding::Standard => match code {
                0x27 => Some('’'),
                0x60 => Some('‘'),
                0x20..=0x7e => Some(char::from(code)),
                0xa1..=0xfb => STANDARD_HIGH
                    .iter()
                    .find(|(c, _)| *c == code)
                    .map(|(_, ch)| *ch),
                _ => None,
            },
        }
    }
}

const MAC_ROMAN_HIGH: [Option<char>; 128] = {
    const S: &str = "ÄÅÇÉÑÖÜáàâäãåçéèêëíìîïñóòôöõúùûü†°¢£§•¶ß®©™´¨≠ÆØ∞±≤≥¥µ∂∑∏π∫ªºΩæø¿¡¬√ƒ≈∆«»…\u{a0}ÀÃÕŒœ–—“”‘’÷◊ÿŸ⁄€‹›ﬁﬂ‡·‚„‰ÂÊÁËÈÍÎÏÌÓÔ\u{f8ff}ÒÚÛÙıˆ˜¯˘˙˚¸˝˛ˇ";
    let bytes = S.as_bytes();
    let mut out = [None; 128];
    let (mut i, mut n) = (0, 0);
    while i < bytes.len() && n < 128 {
        // Decode one UTF-8 sequence by hand (const context).
        let b0 = bytes[i] as u32;
        let (cp, len) = if b0 < 0x80 {
            (b0, 1)
        } else if b0 < 0xe0 {
            (((b0 & 0x1f) << 6) | (bytes[i + 1] as u32 & 0x3f), 2)
        } else {
            (
                ((b0 & 0x0f) << 12)
                    | ((bytes[i + 1] as u32 & 0x3f) << 6)
                    | (bytes[i + 2] as u32 & 0x3f),
                3,
            )
        };
        out[n] = char::from_u32(cp);
        n += 1;
        i += len;
    }
    out
};

/// Annex D.2, StandardEncoding above 0x7e (Adobe's Type 1 default).
const STANDARD_HIGH: [(u8, char); 54] = [
    (0xa1, '¡'),
    (0xa2, '¢'),
    (0xa3, '£'),
    (0xa4, '⁄'),
    (0xa5, '¥'),
    (0xa6, 'ƒ'),
    (0xa7, '§'),
    (0xa8, '¤'),
    (0xa9, '\''),
    (0xaa, '“'),
    (0xab, '«'),
    (0xac, '‹'),
    (0xad, '›'),
    (0xae, 'ﬁ'),
    (0xaf, 'ﬂ'),
    (0xb1, '–'),
    (0xb2, '†'),
    (0xb3, '‡'),
    (0xb4, '·'),
    (0xb6, '¶'),
    (0xb7, '•'),
    (0xb8, '‚'),
    (0xb9, '„'),
    (0xba, '”'),
    (0xbb, '»'),
    (0xbc, '…'),
    (0xbd, '‰'),
    (0xbf, '¿'),
    (0xc1, '`'),
    (0xc2, '´'),
    (0xc3, 'ˆ'),
    (0xc4, '˜'),
    (0xc5, '¯'),
    (0xc6, '˘'),
    (0xc7, '˙'),
    (0xc8, '¨'),
    (0xca, '˚'),
    (0xcb, '¸'),
    (0xcd, '˝'),
    (0xce, '˛'),
    (0xcf, 'ˇ'),
    (0xd0, '—'),
    (0xe1, 'Æ'),
    (0xe3, 'ª'),
    (0xe8, 'Ł'),
    (0xe9, 'Ø'),
    (0xea, 'Œ'),
    (0xeb, 'º'),
    (0xf1, 'æ'),
    (0xf5, 'ı'),
    (0xf8, 'ł'),
    (0xf9, 'ø'),
    (0xfa, 'œ'),
    (0xfb, 'ß'),
];

/// Glyph names of ASCII characters, in code order from 0x20.
const ASCII_NAMES: [&str; 95] = [
    "space",
    "exclam",
    "quotedbl",
    "numbersign",
    "dollar",
    "percent",
    "ampersand",
    "quotesingle",
    "parenleft",
    "parenright",
    "asterisk",
    "plus",
    "comma",
    "hyphen",
    "period",
    "slash",
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "colon",
    "semicolon",
    "less",
    "equal",
    "greater",
    "question",
    "at",
    "A",
    "B",
    "C",
    "D",
    "E",
    "F",
    "G",
    "H",
    "I",
    "J",
    "K",
    "L",
    "M",
    "N",
    "O",
    "P",
    "Q",
    "R",
    "S",
    "T",
    "U",
    "V",
    "W",
    "X",
    "Y",
    "Z",
    "bracketleft",
    "backslash",
    "bracketright",
    "asciicircum",
    "underscore",
    "grave",
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "j",
    "k",
    "l",
    "m",
    "n",
    "o",
    "p",
    "q",
    "r",
    "s",
    "t",
    "u",
    "v",
    "w",
    "x",
    "y",
    "z",
    "braceleft",
    "bar",
    "braceright",
    "asciitilde",
];

/// Glyph names of Latin-1 characters, in code order from 0xA0.
const LATIN1_NAMES: [&str; 96] = [
    "nbspace",
    "exclamdown",
    "cent",
    "sterling",
    "currency",
    "yen",
    "brokenbar",
    "section",
    "dieresis",
    "copyright",
    "ordfeminine",
    "guillemotleft",
    "logicalnot",
    "sfthyphen",
    "registered",
    "macron",
    "degree",
    "plusminus",
    "twosuperior",
    "threesuperior",
    "acute",
    "mu",
    "paragraph",
    "periodcentered",
    "cedilla",
    "onesuperior",
    "ordmasculine",
    "guillemotright",
    "onequarter",
    "onehalf",
    "threequarters",
    "questiondown",
    "Agrave",
    "Aacute",
    "Acircumflex",
    "Atilde",
    "Adieresis",
    "Aring",
    "AE",
    "Ccedilla",
    "Egrave",
    "Eacute",
    "Ecircumflex",
    "Edieresis",
    "Igrave",
    "Iacute",
    "Icircumflex",
    "Idieresis",
    "Eth",
    "Ntilde",
    "Ograve",
    "Oacute",
    "Ocircumflex",
    "Otilde",
    "Odieresis",
    "multiply",
    "Oslash",
    "Ugrave",
    "Uacute",
    "Ucircumflex",
    "Udieresis",
    "Yacute",
    "Thorn",
    "germandbls",
    "agrave",
    "aacute",
    "acircumflex",
    "atilde",
    "adieresis",
    "aring",
    "ae",
    "ccedilla",
    "egrave",
    "eacute",
    "ecircumflex",
    "edieresis",
    "igrave",
    "iacute",
    "icircumflex",
    "idieresis",
    "eth",
    "ntilde",
    "ograve",
    "oacute",
    "ocircumflex",
    "otilde",
    "odieresis",
    "divide",
    "oslash",
    "ugrave",
    "uacute",
    "ucircumflex",
    "udieresis",
    "yacute",
    "thorn",
    "ydieresis",
];

/// Other names letters use (Windows-1252 extras, ligatures, dashes).
const OTHER_NAMES: [(&str, char); 38] = [
    ("Euro", '€'),
    ("quotesinglbase", '‚'),
    ("florin", 'ƒ'),
    ("quotedblbase", '„'),
    ("ellipsis", '…'),
    ("dagger", '†'),
    ("daggerdbl", '‡'),
    ("circumflex", 'ˆ'),
    ("perthousand", '‰'),
    ("Scaron", 'Š'),
    ("guilsinglleft", '‹'),
    ("OE", 'Œ'),
    ("Zcaron", 'Ž'),
    ("quoteleft", '‘'),
    ("quoteright", '’'),
    ("quotedblleft", '“'),
    ("quotedblright", '”'),
    ("bullet", '•'),
    ("endash", '–'),
    ("emdash", '—'),
    ("tilde", '˜'),
    ("trademark", '™'),
    ("scaron", 'š'),
    ("guilsinglright", '›'),
    ("oe", 'œ'),
    ("zcaron", 'ž'),
    ("Ydieresis", 'Ÿ'),
    ("fi", 'ﬁ'),
    ("fl", 'ﬂ'),
    ("ff", 'ﬀ'),
    ("ffi", 'ﬃ'),
    ("ffl", 'ﬄ'),
    ("dotlessi", 'ı'),
    ("Lslash", 'Ł'),
    ("lslash", 'ł'),
    ("minus", '−'),
    ("fraction", '⁄'),
    ("hyphenminus", '-'),
];

/// The text a glyph name stands for (Adobe Glyph List for New Fonts, the
/// `uniXXXX` and `uXXXX[XX]` forms, and `a_b` ligature names); suffixes
/// such as `.sc` or `.alt` are dropped. `None` for names that say nothing
/// (`g123`, `cid45`, `.notdef`).
pub fn glyph_name_text(name: &str) -> Option<String> {
    let base = name.split('.').next().unwrap_or("");
    if base.is_empty() {
        return None;
    }
    if base.contains('_') {
        let parts: Option<String> = base.split('_').map(glyph_name_text).collect();
        return parts.filter(|p| !p.is_empty());
    }
    if let Some(c) = single_name(base) {
        return Some(c.to_string());
    }
    // "uni00E9" (possibly several code units: "uni00660069"), "u1EC5".
    if let Some(hex) = base.strip_prefix("uni")
        && hex.len() >= 4
        && hex.len() % 4 == 0
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        let units: Vec<u16> = (0..hex.len() / 4)
            .filter_map(|i| u16::from_str_radix(&hex[i * 4..i * 4 + 4], 16).ok())
            .collect();
        return String::from_utf16(&units).ok().filter(|s| !s.is_empty());
    }
    if let Some(hex) = base.strip_prefix('u')
        && (4..=6).contains(&hex.len())
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return u32::from_str_radix(hex, 16)
            .ok()
            .and_then(char::from_u32)
            .map(String::from);
    }
    None
}

fn single_name(name: &str) -> Option<char> {
    if let Some(i) = ASCII_NAMES.iter().position(|n| *n == name) {
        return char::from_u32(0x20 + i as u32);
    }
    if let Some(i) = LATIN1_NAMES.iter().position(|n| *n == name) {
        return char::from_u32(0xa0 + i as u32);
    }
    match name {
        "nonbreakingspace" => return Some('\u{a0}'),
        "hyphensoft" => return Some('\u{ad}'),
        _ => {}
    }
    OTHER_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_encodings() {
        assert_eq!(BaseEncoding::WinAnsi.char(0xfc), Some('ü'));
        assert_eq!(BaseEncoding::WinAnsi.char(0x96), Some('–'));
        assert_eq!(BaseEncoding::WinAnsi.char(0x81), Some('•'));
        assert_eq!(BaseEncoding::WinAnsi.char(0x7f), Some('•'));
        assert_eq!(BaseEncoding::MacRoman.char(0x9f), Some('ü'));
        assert_eq!(BaseEncoding::MacRoman.char(0xd5), Some('’'));
        assert_eq!(BaseEncoding::MacRoman.char(0xff), Some('ˇ'));
        assert!(MAC_ROMAN_HIGH.iter().all(Option::is_some));
        assert_eq!(BaseEncoding::Standard.char(0x27), Some('’'));
        assert_eq!(BaseEncoding::Standard.char(0xfb), Some('ß'));
        assert_eq!(BaseEncoding::Standard.char(0x41), Some('A'));
    }

    #[test]
    fn glyph_names() {
        let t = |n: &str| glyph_name_text(n);
        assert_eq!(t("udieresis").as_deref(), Some("ü"));
        assert_eq!(t("A.sc").as_deref(), Some("A"));
        assert_eq!(t("quoteright").as_deref(), Some("’"));
        assert_eq!(t("uni1EC5").as_deref(), Some("ễ"));
        assert_eq!(t("uni00660069").as_deref(), Some("fi"));
        assert_eq!(t("u1F600").as_deref(), Some("😀"));
        assert_eq!(t("f_f_i").as_deref(), Some("ffi"));
        assert_eq!(t("zero").as_deref(), Some("0"));
        assert_eq!(t("asciitilde").as_deref(), Some("~"));
        assert_eq!(t("ydieresis").as_deref(), Some("ÿ"));
        assert_eq!(t("g123"), None);
        assert_eq!(t(".notdef"), None);
        assert_eq!(t("uniD800"), None);
    }
}
