//! PDF letters with a text layer: the text a practice's program printed to
//! PDF, or the hidden text an OCR scanner put over its image. The file is
//! parsed by `hayro-syntax` (objects, cross-reference repair, filters, the
//! content-stream lexer); here the text operators are followed (ISO
//! 32000-1 §9.4) to place every glyph on the page, and the glyphs are put
//! back into lines, words and paragraphs by position, as a reader sees
//! them. The PDF itself is kept by the caller, for an HL7 PDF display.
//!
//! The file comes from anyone, so everything is bounded: its size, pages,
//! operators, glyphs, nested forms, and above all how far its compressed
//! streams expand. A PDF without text (a plain scan) is "not possible":
//! a text import would lose it.

mod encoding;
mod font;

use crate::document::{Block, Body, Inline, Style};
use font::{Code, Font};
use hayro_syntax::Filter;
use hayro_syntax::Pdf;
use hayro_syntax::content::TypedIter;
use hayro_syntax::content::ops::TypedInstruction;
use hayro_syntax::object::{Dict, Name, Number, Object, Stream};
use hayro_syntax::page::Resources;
use std::collections::HashMap;
use std::io::Read;

/// The largest PDF read.
pub const MAX_PDF: usize = 32 * 1024 * 1024;
const MAX_PAGES: usize = 500;
/// No single stream may expand beyond this, nor all of them together
/// beyond [`MAX_EXPANDED`]: the parser decodes object streams in full, so
/// a small file that inflates to gigabytes is refused before it is parsed.
const MAX_STREAM: u64 = 64 * 1024 * 1024;
const MAX_EXPANDED: u64 = 256 * 1024 * 1024;
/// Streams with filters other than plain Flate are decoded only this small
/// (LZW can expand a few thousand times).
const MAX_OTHER_FILTERED: usize = 16 * 1024;
const MAX_OPERATORS: usize = 5_000_000;
const MAX_GLYPHS: usize = 2_000_000;
const MAX_FORM_DEPTH: u32 = 8;
const MAX_STATE_DEPTH: usize = 256;
const MAX_FONTS: usize = 4_096;

/// Reads a PDF letter's text, or says why it cannot.
pub fn read(data: &[u8]) -> Result<Body, String> {
    if data.len() > MAX_PDF {
        return Err("the PDF is larger than 32 MB".into());
    }
    let head = &data[..data.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err("the file is not a PDF".into());
    }
    let encrypted = mentions_name(data, b"Encrypt");
    if encrypted && mentions_name(data, b"ObjStm") {
        // Encrypted object streams cannot be measured before the parser
        // inflates them.
        return Err("the PDF is encrypted; ask the sender for a copy without protection".into());
    }
    check_expansion(data)?;
    let pdf = Pdf::new(data.to_vec()).map_err(|e| match e {
        hayro_syntax::LoadPdfError::Decryption(_) => {
            "the PDF is protected by a password; ask the sender for a copy without one".to_string()
        }
        hayro_syntax::LoadPdfError::Invalid => "the PDF is damaged and cannot be read".to_string(),
    })?;
    let pages = pdf.pages();
    if pages.len() > MAX_PAGES {
        return Err(format!("the PDF has more than {MAX_PAGES} pages"));
    }
    let mut reader = Reader::new();
    let mut blocks = Vec::new();
    for page in pages.iter() {
        let ctm = Matrix(page.initial_transform(true).as_coeffs().map(|c| c as f32));
        let content = reader.page_content(page.raw());
        reader.glyphs.clear();
        reader.run(&content, page.resources(), ctm, 0);
        if let Some(why) = reader.refused.take() {
            return Err(why);
        }
        blocks.extend(layout(&mut reader.glyphs));
    }
    if reader.mapped == 0 && reader.unmapped > 0
        || reader.unmapped > 20 && reader.unmapped * 5 > reader.mapped
    {
        return Err(
            "the PDF's text cannot be read: its fonts do not say which letters they show".into(),
        );
    }
    let body = Body { blocks };
    if body.is_empty() {
        return Err(
            "the PDF has no text layer (it may be a scanned image), which a text import would lose"
                .into(),
        );
    }
    Ok(body)
}

/// A transformation matrix `[a b c d e f]` (§8.3.3); `x' = a x + c y + e`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Matrix([f32; 6]);

impl Matrix {
    const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    fn translate(x: f32, y: f32) -> Matrix {
        Matrix([1.0, 0.0, 0.0, 1.0, x, y])
    }

    /// `self × then`: apply `self` first (the PDF's row-vector order).
    fn then(self, then: Matrix) -> Matrix {
        let [a1, b1, c1, d1, e1, f1] = self.0;
        let [a2, b2, c2, d2, e2, f2] = then.0;
        Matrix([
            a1 * a2 + b1 * c2,
            a1 * b2 + b1 * d2,
            c1 * a2 + d1 * c2,
            c1 * b2 + d1 * d2,
            e1 * a2 + f1 * c2 + e2,
            e1 * b2 + f1 * d2 + f2,
        ])
    }

    fn apply(self, x: f32, y: f32) -> (f32, f32) {
        let [a, b, c, d, e, f] = self.0;
        (a * x + c * y + e, b * x + d * y + f)
    }

    fn from_numbers(n: [&Number; 6]) -> Matrix {
        Matrix(n.map(|v| finite(v.as_f32())))
    }
}

fn finite(v: f32) -> f32 {
    if v.is_finite() { v } else { 0.0 }
}

/// §8.4 and §9.3: the graphics state parts that place text.
#[derive(Clone, Debug)]
struct State {
    ctm: Matrix,
    char_spacing: f32,
    word_spacing: f32,
    horizontal_scale: f32,
    leading: f32,
    rise: f32,
    font: usize,
    size: f32,
}

/// One glyph as placed on the page (device space, y down, in points).
#[derive(Clone, Debug)]
struct Glyph {
    x: f32,
    y: f32,
    width: f32,
    size: f32,
    text: String,
    style: Style,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum FontKey {
    Object(u32, i32),
    Direct(usize),
}

struct Reader {
    fonts: Vec<Font>,
    font_index: HashMap<FontKey, usize>,
    glyphs: Vec<Glyph>,
    total_glyphs: usize,
    operators: usize,
    mapped: usize,
    unmapped: usize,
    /// Set when a limit is reached: the reason the letter is not read.
    refused: Option<String>,
    state: State,
    saved: Vec<State>,
    text_matrix: Matrix,
    line_matrix: Matrix,
}

impl Reader {
    fn new() -> Reader {
        Reader {
            // Index 0: for text shown before any font is chosen.
            fonts: vec![Font::fallback()],
            font_index: HashMap::new(),
            glyphs: Vec::new(),
            total_glyphs: 0,
            operators: 0,
            mapped: 0,
            unmapped: 0,
            refused: None,
            state: State {
                ctm: Matrix::IDENTITY,
                char_spacing: 0.0,
                word_spacing: 0.0,
                horizontal_scale: 1.0,
                leading: 0.0,
                rise: 0.0,
                font: 0,
                size: 0.0,
            },
            saved: Vec::new(),
            text_matrix: Matrix::IDENTITY,
            line_matrix: Matrix::IDENTITY,
        }
    }

    fn refuse(&mut self, why: &str) {
        self.refused.get_or_insert_with(|| why.to_string());
    }

    /// A page's content streams, decoded within the limits and joined.
    fn page_content(&mut self, page: &Dict<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        match page.get::<Object<'_>>(b"Contents") {
            Some(Object::Stream(s)) => out = self.decode(&s).unwrap_or_default(),
            Some(Object::Array(parts)) => {
                for s in parts.iter::<Stream<'_>>() {
                    if let Some(data) = self.decode(&s) {
                        out.extend_from_slice(&data);
                        // §7.8.2: the parts are joined as if by white space.
                        out.push(b'\n');
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// A stream's data with its filters undone; a stream that expands too
    /// far stops the reading.
    fn decode(&mut self, stream: &Stream<'_>) -> Option<Vec<u8>> {
        decode_stream(stream).unwrap_or_else(|why| {
            self.refuse(&why);
            None
        })
    }

    fn font_for(&mut self, resources: &Resources<'_>, name: &Name<'_>) -> usize {
        let Some(dict) = resources.get_font(name) else {
            return 0;
        };
        let key = match dict.obj_id() {
            Some(id) => FontKey::Object(id.obj_number, id.gen_number),
            None => FontKey::Direct(dict.data().as_ptr() as usize),
        };
        if let Some(&i) = self.font_index.get(&key) {
            return i;
        }
        if self.fonts.len() >= MAX_FONTS {
            return 0;
        }
        let font = Font::read(&dict);
        self.fonts.push(font);
        let i = self.fonts.len() - 1;
        self.font_index.insert(key, i);
        i
    }

    /// Follows one content stream (§9.4 text operators, §8.4.4 state,
    /// §8.10 form XObjects); everything else is skipped.
    fn run(&mut self, content: &[u8], resources: &Resources<'_>, ctm: Matrix, depth: u32) {
        let inner = State {
            ctm,
            ..self.state.clone()
        };
        let outer = std::mem::replace(&mut self.state, inner);
        let saved_depth = self.saved.len();
        let mut ops = TypedIter::new(content);
        while let Some(op) = ops.next() {
            self.operators += 1;
            if self.operators > MAX_OPERATORS {
                self.refuse("the PDF has more drawing instructions than a letter could need");
            }
            if self.total_glyphs > MAX_GLYPHS {
                self.refuse("the PDF has more text than a letter could hold");
            }
            if self.refused.is_some() {
                break;
            }
            match op {
                TypedInstruction::SaveState(_) if self.saved.len() < MAX_STATE_DEPTH => {
                    self.saved.push(self.state.clone());
                }
                TypedInstruction::RestoreState(_) => {
                    if self.saved.len() > saved_depth
                        && let Some(s) = self.saved.pop()
                    {
                        self.state = s;
                    }
                }
                TypedInstruction::Transform(t) => {
                    let m = Matrix::from_numbers([&t.0, &t.1, &t.2, &t.3, &t.4, &t.5]);
                    self.state.ctm = m.then(self.state.ctm);
                }
                TypedInstruction::BeginText(_) => {
                    self.text_matrix = Matrix::IDENTITY;
                    self.line_matrix = Matrix::IDENTITY;
                }
                TypedInstruction::TextFont(f) => {
                    self.state.font = self.font_for(resources, f.0);
                    self.state.size = finite(f.1.as_f32());
                }
                TypedInstruction::CharacterSpacing(v) => {
                    self.state.char_spacing = finite(v.0.as_f32())
                }
                TypedInstruction::WordSpacing(v) => self.state.word_spacing = finite(v.0.as_f32()),
                TypedInstruction::HorizontalScaling(v) => {
                    self.state.horizontal_scale = finite(v.0.as_f32()) / 100.0
                }
                TypedInstruction::TextLeading(v) => self.state.leading = finite(v.0.as_f32()),
                TypedInstruction::TextRise(v) => self.state.rise = finite(v.0.as_f32()),
                TypedInstruction::NextLine(t) => self.next_line(t.0.as_f32(), t.1.as_f32()),
                TypedInstruction::NextLineAndSetLeading(t) => {
                    self.state.leading = -finite(t.1.as_f32());
                    self.next_line(t.0.as_f32(), t.1.as_f32());
                }
                TypedInstruction::SetTextMatrix(t) => {
                    let m = Matrix::from_numbers([&t.0, &t.1, &t.2, &t.3, &t.4, &t.5]);
                    self.text_matrix = m;
                    self.line_matrix = m;
                }
                TypedInstruction::NextLineUsingLeading(_) => {
                    self.next_line(0.0, -self.state.leading)
                }
                TypedInstruction::ShowText(s) => self.show(s.0.as_bytes()),
                TypedInstruction::NextLineAndShowText(s) => {
                    self.next_line(0.0, -self.state.leading);
                    self.show(s.0.as_bytes());
                }
                TypedInstruction::ShowTextWithParameters(s) => {
                    self.state.word_spacing = finite(s.0.as_f32());
                    self.state.char_spacing = finite(s.1.as_f32());
                    self.next_line(0.0, -self.state.leading);
                    self.show(s.2.as_bytes());
                }
                TypedInstruction::ShowTexts(items) => {
                    for item in items.0.iter::<Object<'_>>() {
                        match item {
                            Object::String(s) => self.show(s.as_bytes()),
                            // §9.4.3: thousandths of a text space unit, backwards.
                            Object::Number(n) => {
                                let tx = -finite(n.as_f32()) / 1000.0
                                    * self.state.size
                                    * self.state.horizontal_scale;
                                self.text_matrix =
                                    Matrix::translate(tx, 0.0).then(self.text_matrix);
                            }
                            _ => {}
                        }
                    }
                }
                TypedInstruction::XObject(x) if depth < MAX_FORM_DEPTH => {
                    self.form(resources, x.0, depth);
                }
                _ => {}
            }
        }
        self.saved.truncate(saved_depth);
        self.state = outer;
    }

    fn next_line(&mut self, tx: f32, ty: f32) {
        self.line_matrix = Matrix::translate(finite(tx), finite(ty)).then(self.line_matrix);
        self.text_matrix = self.line_matrix;
    }

    /// §8.10: a form XObject draws its own content with its own matrix and
    /// resources (the page's when it has none).
    fn form(&mut self, resources: &Resources<'_>, name: &Name<'_>, depth: u32) {
        let Some(stream) = resources.get_x_object(name) else {
            return;
        };
        let dict = stream.dict();
        if dict.get::<Name<'_>>(b"Subtype").as_deref() != Some(b"Form".as_slice()) {
            return;
        }
        let matrix = dict
            .get::<[f32; 6]>(b"Matrix")
            .map(|m| Matrix(m.map(finite)))
            .unwrap_or(Matrix::IDENTITY);
        let own = dict.get::<Dict<'_>>(b"Resources").map(Resources::new);
        let Some(content) = self.decode(&stream) else {
            return;
        };
        let (tm, lm) = (self.text_matrix, self.line_matrix);
        let ctm = matrix.then(self.state.ctm);
        self.run(&content, own.as_ref().unwrap_or(resources), ctm, depth + 1);
        (self.text_matrix, self.line_matrix) = (tm, lm);
    }

    /// §9.4.4: each glyph is placed by the text rendering matrix, then the
    /// text matrix moves on by its advance.
    fn show(&mut self, bytes: &[u8]) {
        let font = &self.fonts[self.state.font];
        let st = &self.state;
        let style = Style {
            bold: font.bold,
            italic: font.italic,
            underline: false,
        };
        let codes: Vec<Code> = font.codes(bytes);
        for code in codes {
            let font = &self.fonts[self.state.font];
            let advance = font.width(&code) * font.scale;
            let params = Matrix([
                st.size * st.horizontal_scale,
                0.0,
                0.0,
                st.size,
                0.0,
                st.rise,
            ]);
            let trm = params.then(self.text_matrix).then(st.ctm);
            let (x, y) = trm.apply(0.0, 0.0);
            let (x1, _) = trm.apply(advance, 0.0);
            let (ux, uy) = trm.apply(0.0, 1.0);
            let size = (ux - x).hypot(uy - y);
            let [a, b, ..] = trm.0;
            // Only upright, left-to-right text is read; rotated margin
            // notes and mirrored text are left out.
            let upright = a > 0.0 && b.abs() < 0.2 * a;
            match font.text(&code) {
                Some(text) if upright && size.is_finite() && size > 0.0 => {
                    self.mapped += 1;
                    self.total_glyphs += 1;
                    self.glyphs.push(Glyph {
                        x,
                        y,
                        width: (x1 - x).max(0.0),
                        size,
                        text,
                        style,
                    });
                }
                Some(_) => {}
                None => self.unmapped += 1,
            }
            let spacing = st.char_spacing
                + if font.is_word_space(&code) {
                    st.word_spacing
                } else {
                    0.0
                };
            let tx = (advance * st.size + spacing) * st.horizontal_scale;
            self.text_matrix = Matrix::translate(finite(tx), 0.0).then(self.text_matrix);
        }
    }
}

/// A stream's data with its filters undone, never larger than
/// [`MAX_STREAM`]; `Ok(None)` for a stream left out (a large one in a rare
/// filter, or one that does not decode).
fn decode_stream(stream: &Stream<'_>) -> Result<Option<Vec<u8>>, String> {
    let filters = stream.filters();
    let raw = stream.raw_data();
    let predictor = stream
        .dict()
        .get::<Dict<'_>>(b"DecodeParms")
        .and_then(|p| p.get::<Number>(b"Predictor"))
        .is_some_and(|p| p.as_i64() > 1);
    Ok(match filters.as_slice() {
        [] => Some(raw.into_owned()),
        [Filter::FlateDecode] if !predictor => Some(inflate(&raw, MAX_STREAM)?),
        [Filter::FlateDecode, ..] => {
            // Measure first, then let the parser apply the rest.
            inflate(&raw, MAX_STREAM)?;
            stream.decoded().ok().map(|d| d.into_owned())
        }
        _ if raw.len() <= MAX_OTHER_FILTERED => stream.decoded().ok().map(|d| d.into_owned()),
        _ => None,
    })
}

/// Inflates zlib (or raw deflate) data, refusing more than `limit` bytes.
/// A damaged tail keeps what came before it, as PDF readers do.
fn inflate(data: &[u8], limit: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let zlib = flate2::read::ZlibDecoder::new(data)
        .take(limit + 1)
        .read_to_end(&mut out);
    if zlib.is_err() && out.is_empty() {
        let _ = flate2::read::DeflateDecoder::new(data)
            .take(limit + 1)
            .read_to_end(&mut out);
    }
    if out.len() as u64 > limit {
        return Err(too_big_stream());
    }
    Ok(out)
}

fn too_big_stream() -> String {
    format!(
        "part of the PDF expands to more than {} MB",
        MAX_STREAM / 1024 / 1024
    )
}

/// How many bytes compressed data inflates to, counted without keeping
/// them, up to `limit`.
fn inflated_len(data: &[u8], limit: u64) -> u64 {
    let count = |r: &mut dyn Read| {
        let mut buf = [0u8; 16 * 1024];
        let mut n = 0u64;
        while n <= limit {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k as u64,
            }
        }
        n
    };
    let n = count(&mut flate2::read::ZlibDecoder::new(data));
    if n > 0 {
        n
    } else {
        count(&mut flate2::read::DeflateDecoder::new(data))
    }
}

/// Every `stream` keyword in the file is tried as compressed data, and
/// their expansion must stay within [`MAX_STREAM`] each and
/// [`MAX_EXPANDED`] together. The parser inflates object streams in full
/// and on its own, so a compression bomb is stopped here, before parsing.
fn check_expansion(data: &[u8]) -> Result<(), String> {
    let mut total = 0u64;
    for at in memchr::memmem::find_iter(data, b"stream") {
        if at >= 3 && &data[at - 3..at] == b"end" {
            continue;
        }
        let mut start = at + 6;
        if data.get(start) == Some(&b'\r') {
            start += 1;
        }
        if data.get(start) == Some(&b'\n') {
            start += 1;
        }
        let n = inflated_len(&data[start.min(data.len())..], MAX_STREAM);
        if n > MAX_STREAM {
            return Err(too_big_stream());
        }
        total += n;
        if total > MAX_EXPANDED {
            return Err(format!(
                "the PDF expands to more than {} MB",
                MAX_EXPANDED / 1024 / 1024
            ));
        }
    }
    Ok(())
}

/// Whether the file uses a name, written plainly or with `#xx` escapes
/// (§7.3.5), anywhere outside streams' data as far as a scan can tell.
fn mentions_name(data: &[u8], wanted: &[u8]) -> bool {
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'/', &data[i..]) {
        let start = i + off + 1;
        let mut end = start;
        while end < data.len()
            && !data[end].is_ascii_whitespace()
            && !b"/<>[]()%{}".contains(&data[end])
        {
            end += 1;
        }
        let raw = &data[start..end];
        if raw == wanted || raw.contains(&b'#') && unescape_name(raw).as_deref() == Some(wanted) {
            return true;
        }
        i = end.max(start);
    }
    false
}

fn unescape_name(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'#' {
            let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A line of text as read: its baseline, font size, left edge and runs.
struct Line {
    y: f32,
    size: f32,
    x0: f32,
    /// Where each column of the line starts (after a wide gap).
    columns: Vec<f32>,
    runs: Vec<(String, Style)>,
}

impl Line {
    fn text(&self) -> String {
        self.runs.iter().map(|(t, _)| t.as_str()).collect()
    }
}

/// Glyphs to lines (by baseline), words (by gaps) and blocks (by the
/// space between lines, and bullets).
fn layout(glyphs: &mut [Glyph]) -> Vec<Block> {
    glyphs.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
    let mut lines: Vec<Line> = Vec::new();
    let mut start = 0;
    while start < glyphs.len() {
        let (y0, s0) = (glyphs[start].y, glyphs[start].size);
        let mut end = start + 1;
        while end < glyphs.len() && glyphs[end].y - y0 <= 0.5 * s0.max(glyphs[end].size) {
            end += 1;
        }
        if let Some(line) = make_line(&mut glyphs[start..end]) {
            lines.push(line);
        }
        start = end;
    }
    blocks_of(&lines)
}

fn make_line(glyphs: &mut [Glyph]) -> Option<Line> {
    glyphs.sort_by(|a, b| a.x.total_cmp(&b.x));
    let size = glyphs.iter().map(|g| g.size).fold(0.0f32, f32::max);
    let mut runs: Vec<(String, Style)> = Vec::new();
    let mut columns = Vec::new();
    let mut prev: Option<&Glyph> = None;
    let mut x0 = None;
    for g in glyphs.iter() {
        let blank = g.text.trim().is_empty();
        if let Some(p) = prev {
            // The same glyph drawn twice, a little offset: fake bold.
            if p.text == g.text && (g.x - p.x).abs() < 0.15 * g.size {
                continue;
            }
            let gap = g.x - (p.x + p.width);
            let ends_blank = runs.last().is_some_and(|(t, _)| t.ends_with([' ', '\t']));
            if !blank && !ends_blank {
                if gap > 1.5 * g.size {
                    columns.push(g.x);
                    push(&mut runs, "\t", g.style);
                } else if gap > 0.2 * g.size {
                    push(&mut runs, " ", g.style);
                }
            }
        } else if blank {
            continue;
        }
        if blank {
            if !runs.last().is_some_and(|(t, _)| t.ends_with([' ', '\t'])) {
                push(&mut runs, " ", g.style);
            }
        } else {
            x0.get_or_insert(g.x);
            push(&mut runs, &g.text, g.style);
        }
        prev = Some(g);
    }
    if let Some((t, _)) = runs.last_mut() {
        let trimmed = t.trim_end().len();
        t.truncate(trimmed);
    }
    runs.retain(|(t, _)| !t.is_empty());
    let x0 = x0?;
    columns.insert(0, x0);
    Some(Line {
        y: glyphs.first()?.y,
        size,
        x0,
        columns,
        runs,
    })
}

fn push(runs: &mut Vec<(String, Style)>, text: &str, style: Style) {
    match runs.last_mut() {
        Some((t, s)) if *s == style || text.trim().is_empty() => t.push_str(text),
        _ => runs.push((text.to_string(), style)),
    }
}

const BULLETS: [char; 7] = ['•', '◦', '▪', '●', '‣', '∙', '■'];

/// Lines to blocks: a wide gap between lines starts a new paragraph, a
/// bullet a list item, and lines with column gaps (a details table, a
/// letterhead beside the address) become table rows, as the other readers
/// give tables.
fn blocks_of(lines: &[Line]) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut content: Vec<Inline> = Vec::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut item: Option<f32> = None;
    let flush = |blocks: &mut Vec<Block>,
                 content: &mut Vec<Inline>,
                 rows: &mut Vec<Vec<String>>,
                 item: &mut Option<f32>| {
        if !content.is_empty() {
            let content = std::mem::take(content);
            blocks.push(match item.take() {
                Some(_) => Block::ListItem {
                    ordered: false,
                    number: 0,
                    content,
                },
                None => Block::Paragraph { content },
            });
        }
        *item = None;
        if !rows.is_empty() {
            blocks.push(Block::Table {
                rows: std::mem::take(rows),
            });
        }
    };
    let mut prev: Option<&Line> = None;
    let mut row_line: Option<&Line> = None;
    for line in lines {
        let text = line.text();
        let bullet = text
            .strip_prefix(BULLETS)
            .or_else(|| text.strip_prefix('-'))
            .filter(|rest| rest.starts_with([' ', '\t']));
        let new_block = match prev {
            None => true,
            Some(p) => line.y - p.y > 1.55 * p.size.max(line.size) || bullet.is_some(),
        };
        // A table cell's text that wrapped onto a line of its own, right
        // under its column: it belongs to that cell, not to a paragraph
        // (a family name wrapped under "Miss Losa" is part of the name).
        // A line under the first column starts a paragraph instead.
        if let (Some(p), Some(row), Some(last)) = (prev, row_line, rows.last_mut())
            && !text.contains('\t')
            && line.y - p.y <= 1.55 * p.size.max(line.size)
            && let Some(col) = row
                .columns
                .iter()
                .position(|x| (line.x0 - x).abs() < 0.5 * line.size)
                .filter(|&col| col > 0)
            && let Some(cell) = last.get_mut(col)
        {
            cell.push('\n');
            cell.push_str(text.trim());
            prev = Some(line);
            continue;
        }
        if bullet.is_none() && text.contains('\t') {
            if new_block || !content.is_empty() {
                flush(&mut blocks, &mut content, &mut rows, &mut item);
            }
            rows.push(text.split('\t').map(|c| c.trim().to_string()).collect());
            row_line = Some(line);
            prev = Some(line);
            continue;
        }
        // A line after a bullet that starts further right continues it.
        let continues_item = !new_block && item.is_some_and(|x| line.x0 > x + 0.5 * line.size);
        if new_block || !rows.is_empty() || (item.is_some() && !continues_item) {
            flush(&mut blocks, &mut content, &mut rows, &mut item);
        }
        let mut runs = line.runs.clone();
        if let Some(rest) = bullet {
            item = Some(line.x0);
            drop_front(&mut runs, text.len() - rest.trim_start().len());
        }
        if !content.is_empty() {
            if continues_item {
                content.push(text_inline(" ".into(), Style::default()));
            } else {
                content.push(Inline::Break);
            }
        }
        for (text, style) in runs {
            let text = text.replace('\t', " ");
            if !text.is_empty() {
                content.push(text_inline(text, style));
            }
        }
        prev = Some(line);
    }
    flush(&mut blocks, &mut content, &mut rows, &mut item);
    blocks
}

/// Removes the first `bytes` bytes of a line's text from its runs.
fn drop_front(runs: &mut Vec<(String, Style)>, mut bytes: usize) {
    while bytes > 0 && !runs.is_empty() {
        let first = &mut runs[0].0;
        if first.len() <= bytes {
            bytes -= first.len();
            runs.remove(0);
        } else {
            let cut = (bytes..=first.len())
                .find(|&i| first.is_char_boundary(i))
                .unwrap_or(first.len());
            first.drain(..cut);
            bytes = 0;
        }
    }
}

fn text_inline(text: String, style: Style) -> Inline {
    Inline::Text {
        text,
        style,
        link: None,
    }
}

#[cfg(test)]
mod tests;
