//! The part of a PDF font that text extraction needs (ISO 32000-1 §9.6
//! simple fonts, §9.7 composite fonts): how a string splits into character
//! codes, what text each code stands for (§9.10: `ToUnicode` first, then
//! the encoding and glyph names), and how far each glyph advances. Font
//! programs themselves are never read.

use super::encoding::{BaseEncoding, glyph_name_text};
use super::finite;
use hayro_cmap::{BfString, CMap};
use hayro_syntax::object::{Array, Dict, Name, Number, Object, Stream};

/// One character code of a shown string.
pub struct Code {
    pub code: u32,
    /// 1 for simple fonts; 1–4 for composite ones.
    pub len: u8,
}

enum Kind {
    /// One byte a code; widths from `FirstChar`/`Widths`.
    Simple {
        encoding: Box<[Option<String>; 256]>,
        first_char: u32,
        widths: Vec<f32>,
    },
    /// Type0 (§9.7.6): codes through the `Encoding` CMap to CIDs; widths
    /// from the descendant's `W` array, by CID.
    Composite {
        /// `None` means Identity-H/V (or a predefined CMap not at hand):
        /// two bytes a code, CID = code.
        cmap: Option<Box<CMap>>,
        /// Sorted, non-overlapping (first CID, last CID, width).
        widths: Vec<(u32, u32, f32)>,
        default_width: f32,
    },
}

pub struct Font {
    kind: Kind,
    to_unicode: Option<CMap>,
    missing_width: f32,
    /// Glyph space to text space: 1/1000 except for Type 3 (`FontMatrix`).
    pub scale: f32,
    pub bold: bool,
    pub italic: bool,
}

/// The most entries read from a `Widths` or `W` array.
const MAX_WIDTHS: usize = 65_536;

impl Font {
    /// Reads a font dictionary; its streams are decoded within the reader's
    /// limits.
    pub fn read(dict: &Dict<'_>) -> Font {
        let decode = |s: &Stream<'_>| super::decode_stream(s).ok().flatten();
        let subtype = name(dict, b"Subtype").unwrap_or_default();
        let base_font = name(dict, b"BaseFont").unwrap_or_default();
        let to_unicode = dict
            .get::<Stream<'_>>(b"ToUnicode")
            .and_then(|s| decode(&s))
            .and_then(|data| CMap::parse(&data, |_| None));
        let descendant = (subtype == "Type0")
            .then(|| dict.get::<Array<'_>>(b"DescendantFonts"))
            .flatten()
            .and_then(|a| a.iter::<Dict<'_>>().next());
        let descriptor = descendant
            .as_ref()
            .unwrap_or(dict)
            .get::<Dict<'_>>(b"FontDescriptor");
        let number = |key: &[u8], default: f32| {
            descriptor
                .as_ref()
                .and_then(|d| d.get::<Number>(key))
                .map(|n| finite(n.as_f32()))
                .unwrap_or(default)
        };
        let flags = number(b"Flags", 0.0) as i64;
        let weight = number(b"FontWeight", 400.0);
        let italic_angle = number(b"ItalicAngle", 0.0);
        let missing_width = number(b"MissingWidth", 0.0);
        // Subset fonts are named "ABCDEF+Name-Bold".
        let style_name = base_font
            .rsplit('+')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let bold = weight >= 600.0
            || flags & (1 << 18) != 0
            || ["bold", "black", "heavy", "semibold", "demi"]
                .iter()
                .any(|w| style_name.contains(w));
        let italic = italic_angle.abs() > 0.5
            || flags & (1 << 6) != 0
            || style_name.contains("italic")
            || style_name.contains("oblique");
        let scale = if subtype == "Type3" {
            dict.get::<Array<'_>>(b"FontMatrix")
                .and_then(|m| m.iter::<Number>().next())
                .map(|n| n.as_f32())
                .filter(|s| s.is_finite() && *s != 0.0)
                .unwrap_or(0.001)
        } else {
            0.001
        };
        let kind = if let Some(descendant) = descendant {
            let cmap = match dict.get::<Object<'_>>(b"Encoding") {
                Some(Object::Stream(s)) => decode(&s)
                    .and_then(|d| CMap::parse(&d, |_| None))
                    .map(Box::new),
                _ => None,
            };
            Kind::Composite {
                cmap,
                widths: cid_widths(&descendant),
                default_width: descendant
                    .get::<Number>(b"DW")
                    .map(|n| n.as_f32())
                    .unwrap_or(1000.0),
            }
        } else {
            let symbolic = flags & (1 << 2) != 0 && flags & (1 << 5) == 0;
            Kind::Simple {
                encoding: simple_encoding(dict, &subtype, &base_font, symbolic),
                first_char: dict
                    .get::<Number>(b"FirstChar")
                    .map(|n| n.as_i64().clamp(0, 255) as u32)
                    .unwrap_or(0),
                widths: dict
                    .get::<Array<'_>>(b"Widths")
                    .map(|a| a.iter::<Number>().take(256).map(|n| n.as_f32()).collect())
                    .unwrap_or_default(),
            }
        };
        Font {
            kind,
            to_unicode,
            missing_width,
            scale,
            bold,
            italic,
        }
    }

    /// A font for a `Tf` that names no font: plain bytes, no widths known.
    pub fn fallback() -> Font {
        let mut encoding: Box<[Option<String>; 256]> = Box::new(std::array::from_fn(|_| None));
        for (code, slot) in encoding.iter_mut().enumerate() {
            *slot = BaseEncoding::WinAnsi
                .char(code as u8)
                .map(|c| c.to_string());
        }
        Font {
            kind: Kind::Simple {
                encoding,
                first_char: 0,
                widths: Vec::new(),
            },
            to_unicode: None,
            missing_width: 0.0,
            scale: 0.001,
            bold: false,
            italic: false,
        }
    }

    /// Splits a shown string into character codes (§9.7.6.2 for composite
    /// fonts: the longest code the CMap defines, else two bytes).
    pub fn codes(&self, bytes: &[u8]) -> Vec<Code> {
        match &self.kind {
            Kind::Simple { .. } => bytes
                .iter()
                .map(|&b| Code {
                    code: u32::from(b),
                    len: 1,
                })
                .collect(),
            Kind::Composite { cmap, .. } => {
                let mut out = Vec::with_capacity(bytes.len() / 2 + 1);
                let mut i = 0;
                while i < bytes.len() {
                    let len = match cmap {
                        Some(cmap) => (1..=4u8)
                            .find(|&n| {
                                let n = usize::from(n);
                                i + n <= bytes.len()
                                    && cmap
                                        .lookup_cid_code(be(&bytes[i..i + n]), n as u8)
                                        .is_some()
                            })
                            .unwrap_or(2),
                        None => 2,
                    };
                    let len = len.min((bytes.len() - i) as u8);
                    out.push(Code {
                        code: be(&bytes[i..i + usize::from(len)]),
                        len,
                    });
                    i += usize::from(len);
                }
                out
            }
        }
    }

    /// The text a code stands for; `None` when the font does not say.
    pub fn text(&self, code: &Code) -> Option<String> {
        if let Some(map) = &self.to_unicode
            && let Some(s) = map.lookup_bf_string(code.code)
        {
            let s = match s {
                BfString::Char(c) => c.to_string(),
                BfString::String(s) => s,
            };
            return usable(s);
        }
        match &self.kind {
            Kind::Simple { encoding, .. } => encoding
                .get(code.code as usize)
                .cloned()
                .flatten()
                .and_then(usable),
            Kind::Composite { .. } => None,
        }
    }

    /// The advance of a code in glyph units (thousandths of the font size,
    /// or Type 3 glyph space).
    pub fn width(&self, code: &Code) -> f32 {
        let w = match &self.kind {
            Kind::Simple {
                first_char, widths, ..
            } => code
                .code
                .checked_sub(*first_char)
                .and_then(|i| widths.get(i as usize).copied())
                // Without widths (the standard 14 fonts may omit them) an
                // average advance keeps glyphs apart and in order.
                .unwrap_or(if widths.is_empty() && self.missing_width == 0.0 {
                    500.0
                } else {
                    self.missing_width
                }),
            Kind::Composite {
                cmap,
                widths,
                default_width,
            } => {
                let cid = match cmap {
                    Some(c) => c.lookup_cid_code(code.code, code.len).unwrap_or(0),
                    None => code.code,
                };
                match widths.binary_search_by(|(first, last, _)| {
                    if cid < *first {
                        std::cmp::Ordering::Greater
                    } else if cid > *last {
                        std::cmp::Ordering::Less
                    } else {
                        std::cmp::Ordering::Equal
                    }
                }) {
                    Ok(i) => widths[i].2,
                    Err(_) => *default_width,
                }
            }
        };
        if w.is_finite() { w } else { 0.0 }
    }

    /// §9.3.3: word spacing applies to the single-byte code 32 only.
    pub fn is_word_space(&self, code: &Code) -> bool {
        code.len == 1 && code.code == 32
    }
}

fn be(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
}

/// Text made only of controls, private-use code points or U+FFFD says
/// nothing a letter reader can use; a few symbol-font bullets are kept.
fn usable(s: String) -> Option<String> {
    let mapped: String = s
        .chars()
        .filter_map(|c| match c {
            // Symbol and Wingdings bullets as Word maps them (U+F0B7 …).
            '\u{f0b7}' | '\u{f0a7}' | '\u{f06c}' | '\u{f0d8}' | '\u{f0fc}' => Some('•'),
            '\u{e000}'..='\u{f8ff}' | '\u{fffd}' => None,
            '\t' | '\n' | '\r' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    (!mapped.is_empty()).then_some(mapped)
}

fn name(dict: &Dict<'_>, key: &[u8]) -> Option<String> {
    dict.get::<Name<'_>>(key).map(|n| n.as_str().to_string())
}

/// §9.6.6: the base encoding (named, or the font's own default) with the
/// `Differences` applied.
fn simple_encoding(
    dict: &Dict<'_>,
    subtype: &str,
    base_font: &str,
    symbolic: bool,
) -> Box<[Option<String>; 256]> {
    let (base_name, differences) = match dict.get::<Object<'_>>(b"Encoding") {
        Some(Object::Name(n)) => (BaseEncoding::from_name(n.as_str().as_bytes()), None),
        Some(Object::Dict(d)) => (
            d.get::<Name<'_>>(b"BaseEncoding")
                .and_then(|n| BaseEncoding::from_name(n.as_str().as_bytes())),
            d.get::<Array<'_>>(b"Differences"),
        ),
        _ => (None, None),
    };
    let plain = base_font.rsplit('+').next().unwrap_or("");
    let base = base_name.unwrap_or(
        // The built-in encodings we can guess: Type 1 fonts default to
        // StandardEncoding; TrueType fonts made by Windows programs use
        // WinAnsi. Symbol and Dingbats fonts have their own, not read.
        if subtype == "Type1" && !plain.starts_with("Symbol") && !plain.starts_with("ZapfDingbats")
        {
            BaseEncoding::Standard
        } else {
            BaseEncoding::WinAnsi
        },
    );
    let mut table: Box<[Option<String>; 256]> = Box::new(std::array::from_fn(|_| None));
    let symbol_font = plain.starts_with("Symbol")
        || plain.starts_with("Wingdings")
        || plain.starts_with("ZapfDingbats");
    if !(symbolic && base_name.is_none() && symbol_font) {
        for (code, slot) in table.iter_mut().enumerate() {
            *slot = base.char(code as u8).map(|c| c.to_string());
        }
    } else {
        // Word's bullets in Symbol (0xB7) and Wingdings (0xA7, 0x6C, 0xD8).
        for code in [0xb7usize, 0xa7, 0x6c, 0xd8] {
            table[code] = Some("•".into());
        }
    }
    if let Some(diffs) = differences {
        let mut code: i64 = -1;
        for item in diffs.iter::<Object<'_>>().take(MAX_WIDTHS) {
            match item {
                Object::Number(n) => code = n.as_i64(),
                Object::Name(n) if (0..256).contains(&code) => {
                    table[code as usize] = glyph_name_text(n.as_str());
                    code += 1;
                }
                Object::Name(_) => code += 1,
                _ => {}
            }
        }
    }
    table
}

/// §9.7.4.3: `W` is `[c [w1 w2 …]]` or `[c_first c_last w]`, repeated.
fn cid_widths(descendant: &Dict<'_>) -> Vec<(u32, u32, f32)> {
    let mut out = Vec::new();
    let Some(w) = descendant.get::<Array<'_>>(b"W") else {
        return out;
    };
    let items: Vec<Object<'_>> = w.iter::<Object<'_>>().take(MAX_WIDTHS).collect();
    let mut i = 0;
    let cid = |o: &Object<'_>| match o {
        Object::Number(n) if n.as_i64() >= 0 => Some(n.as_i64().min(i64::from(u32::MAX)) as u32),
        _ => None,
    };
    while i < items.len() && out.len() < MAX_WIDTHS {
        let Some(first) = cid(&items[i]) else {
            break;
        };
        match items.get(i + 1) {
            Some(Object::Array(list)) => {
                for (k, n) in list.iter::<Number>().take(MAX_WIDTHS).enumerate() {
                    let c = first.saturating_add(k as u32);
                    out.push((c, c, n.as_f32()));
                }
                i += 2;
            }
            Some(last) => {
                let (Some(last), Some(Object::Number(w))) = (cid(last), items.get(i + 2)) else {
                    break;
                };
                if last >= first {
                    out.push((first, last, w.as_f32()));
                }
                i += 3;
            }
            None => break,
        }
    }
    // Sorted and without overlaps for the binary search (where a producer
    // overlaps ranges, the first one stays).
    out.sort_by_key(|(first, ..)| *first);
    out.dedup_by(|b, a| b.0 <= a.1);
    out
}
