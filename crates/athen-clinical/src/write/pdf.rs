//! The letter as a PDF/A-1b document (fonts embedded, not encrypted), the
//! display receivers show as the letter itself (HL7 `PDF^Display format in
//! PDF^AUSPDI`). Laid out here: A4, 2 cm margins, DejaVu Sans (which covers
//! the Latin, Greek and Vietnamese letters patients' names use), a header
//! naming the patient, then the body with its bold, headings, lists and
//! tables. Rendered with krilla, which checks PDF/A conformance as it
//! writes.

use super::{Job, Letter};
use crate::document::{Block, Inline};
use krilla::Document;
use krilla::configure::{Archival, ConfigurationBuilder, PdfVersion};
use krilla::geom::Point;
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};
use std::collections::HashMap;

static REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.7;
const SIZE: f32 = 10.5;
const HEADING: f32 = 13.0;
const LEADING: f32 = 1.35;

/// A font for drawing, with each character's glyph and advance (in ems)
/// looked up once. Letters need no shaping (no ligatures or contextual
/// forms in the Latin, Greek and Vietnamese text they carry), so glyphs are
/// placed by their advances, which is several times faster than shaping.
struct Face {
    font: Font,
    /// ASCII looked up without hashing; the rest in the map.
    ascii: [Option<(u32, f32)>; 128],
    glyphs: HashMap<char, (u32, f32)>,
    data: &'static [u8],
}

/// The fonts are parsed once per process, not once per letter.
static FONTS: std::sync::OnceLock<Option<(Font, Font)>> = std::sync::OnceLock::new();

fn fonts() -> Result<&'static (Font, Font), String> {
    FONTS
        .get_or_init(|| {
            let load = |d: &'static [u8]| Font::new(d.into(), 0);
            Some((load(REGULAR)?, load(BOLD)?))
        })
        .as_ref()
        .ok_or_else(|| "the embedded font cannot be read".to_string())
}

impl Face {
    fn new(data: &'static [u8], font: Font) -> Face {
        Face {
            font,
            ascii: [None; 128],
            glyphs: HashMap::new(),
            data,
        }
    }

    /// The glyph id and advance of `c`; a missing glyph is `.notdef` (0).
    fn glyph(&mut self, c: char) -> (u32, f32) {
        let ascii = (c as usize) < 128;
        if ascii && let Some(g) = self.ascii[c as usize] {
            return g;
        }
        if let Some(g) = self.glyphs.get(&c) {
            return *g;
        }
        let g = skrifa::FontRef::new(self.data)
            .ok()
            .map(|f| {
                let gid = f.charmap().map(c).unwrap_or_default();
                let advance = f
                    .glyph_metrics(Size::new(1.0), LocationRef::default())
                    .advance_width(gid)
                    .unwrap_or(0.6);
                (gid.to_u32(), advance)
            })
            .unwrap_or((0, 0.6));
        if ascii {
            self.ascii[c as usize] = Some(g);
        } else {
            self.glyphs.insert(c, g);
        }
        g
    }

    /// Width of `text` at `size` points.
    fn width(&mut self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.glyph(c).1 * size).sum()
    }

    /// The positioned glyphs of `text`, each mapped back to its character.
    fn layout(&mut self, text: &str) -> Vec<KrillaGlyph> {
        text.char_indices()
            .map(|(i, c)| {
                let (gid, advance) = self.glyph(c);
                KrillaGlyph::new(
                    GlyphId::new(gid),
                    advance,
                    0.0,
                    0.0,
                    0.0,
                    i..i + c.len_utf8(),
                    None,
                )
            })
            .collect()
    }
}

/// A run of text in one font on one line.
struct Run {
    text: String,
    bold: bool,
    size: f32,
}

/// Lines of runs, laid out to fit the text width.
struct Layout {
    regular: Face,
    bold: Face,
    lines: Vec<(f32, Vec<Run>)>, // (indent, runs); an empty run list is a blank line
}

impl Layout {
    fn face(&mut self, bold: bool) -> &mut Face {
        if bold {
            &mut self.bold
        } else {
            &mut self.regular
        }
    }

    /// Words with their boldness, wrapped at the text width; `first` (a
    /// bullet) starts the first line.
    fn paragraph(&mut self, words: &[Option<(String, bool)>], size: f32, indent: f32, first: &str) {
        let width = PAGE_W - 2.0 * MARGIN - indent;
        let mut line: Vec<Run> = Vec::new();
        let mut used = 0.0;
        let mut has_word = false;
        if !first.is_empty() {
            used = self.face(false).width(first, size);
            line.push(Run {
                text: first.to_string(),
                bold: false,
                size,
            });
        }
        for w in words {
            let Some((word, bold)) = w else {
                self.lines.push((indent, std::mem::take(&mut line)));
                used = 0.0;
                has_word = false;
                continue;
            };
            let mut text = if has_word {
                format!(" {word}")
            } else {
                word.clone()
            };
            let mut w = self.face(*bold).width(&text, size);
            if has_word && used + w > width {
                self.lines.push((indent, std::mem::take(&mut line)));
                used = 0.0;
                text = word.clone();
                w = self.face(*bold).width(&text, size);
            }
            match line.last_mut() {
                Some(last) if last.bold == *bold && last.size == size => last.text.push_str(&text),
                _ => line.push(Run {
                    text,
                    bold: *bold,
                    size,
                }),
            }
            used += w;
            has_word = true;
        }
        self.lines.push((indent, line));
    }

    fn blank(&mut self) {
        self.lines.push((0.0, Vec::new()));
    }
}

fn words(content: &[Inline], all_bold: bool) -> Vec<Option<(String, bool)>> {
    let mut out = Vec::new();
    for i in content {
        match i {
            Inline::Break => out.push(None),
            Inline::Text { text, style, link } => {
                let t = crate::document::shown_text(text, link.as_deref());
                for w in t.split_whitespace() {
                    out.push(Some((w.to_string(), all_bold || style.bold)));
                }
            }
        }
    }
    out
}

/// Renders the letter; `title` names the document (the subject).
/// A new PDF/A-1b (PDF 1.4) document, checked by krilla as it is written.
fn pdf_a_document() -> Result<Document, String> {
    let configuration = ConfigurationBuilder::new()
        .with_version(PdfVersion::Pdf14)
        .with_archival_validator(Archival::A1_B)
        .finish()
        .map_err(|e| format!("PDF/A configuration: {e:?}"))?;
    Ok(Document::new_with(krilla::SerializeSettings {
        configuration,
        ..Default::default()
    }))
}

pub fn render(letter: Letter<'_>, job: &Job, title: &str) -> Result<Vec<u8>, String> {
    let (regular, bold) = fonts()?;
    let mut layout = Layout {
        regular: Face::new(REGULAR, regular.clone()),
        bold: Face::new(BOLD, bold.clone()),
        lines: Vec::new(),
    };
    // A header naming the patient, so a printed page is never anonymous.
    let p = &letter.extraction.patient;
    let name = [
        p.family_name.as_ref().map(|f| f.value.to_uppercase()),
        p.given_names.as_ref().map(|g| g.value.clone()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let born = p
        .birth_date
        .as_ref()
        .map(|d| format!("  born {}", d.value))
        .unwrap_or_default();
    let header: Vec<Option<(String, bool)>> = format!("Patient: {name}{born}")
        .split_whitespace()
        .map(|w| Some((w.to_string(), true)))
        .collect();
    layout.paragraph(&header, SIZE, 0.0, "");
    layout.blank();
    for (i, block) in letter.body.blocks.iter().enumerate() {
        if block.gap_before(i) {
            layout.blank();
        }
        match block {
            Block::Paragraph { content } => layout.paragraph(&words(content, false), SIZE, 0.0, ""),
            Block::Heading { content, .. } => {
                layout.paragraph(&words(content, true), HEADING, 0.0, "")
            }
            Block::ListItem {
                ordered,
                number,
                content,
            } => {
                let bullet = if *ordered {
                    format!("{number}. ")
                } else {
                    "• ".into()
                };
                layout.paragraph(&words(content, false), SIZE, 14.0, &bullet);
            }
            Block::Table { rows } => {
                for row in rows {
                    let w: Vec<Option<(String, bool)>> = row
                        .join("    ")
                        .split_whitespace()
                        .map(|w| Some((w.to_string(), false)))
                        .collect();
                    layout.paragraph(&w, SIZE, 0.0, "");
                }
            }
        }
    }

    let mut doc = pdf_a_document()?;
    let now = &job.now;
    let off = now.offset_minutes;
    doc.set_metadata(
        Metadata::new()
            .title(title.to_string())
            .creator("ATHEN".into())
            .producer("ATHEN (krilla)".into())
            .language("en-AU".into())
            .creation_date(
                DateTime::new(now.date.year)
                    .month(now.date.month)
                    .day(now.date.day)
                    .hour(now.hour)
                    .minute(now.minute)
                    .second(now.second)
                    .utc_offset_hour((off / 60) as i8)
                    .utc_offset_minute((off.unsigned_abs() % 60) as u8),
            ),
    );
    let bottom = PAGE_H - MARGIN;
    let mut lines = layout.lines.iter().peekable();
    while lines.peek().is_some() {
        let mut page =
            doc.start_page_with(PageSettings::from_wh(PAGE_W, PAGE_H).ok_or("bad page size")?);
        let mut surface = page.surface();
        let mut y = MARGIN;
        while let Some((indent, runs)) = lines.peek() {
            let size = runs.iter().map(|r| r.size).fold(SIZE, f32::max);
            let height = size * LEADING;
            if y + height > bottom && y > MARGIN {
                break;
            }
            y += height;
            let mut x = MARGIN + indent;
            for run in runs.iter() {
                let face = if run.bold {
                    &mut layout.bold
                } else {
                    &mut layout.regular
                };
                let glyphs = face.layout(&run.text);
                surface.draw_glyphs(
                    Point::from_xy(x, y),
                    &glyphs,
                    face.font.clone(),
                    &run.text,
                    run.size,
                    false,
                );
                x += face.width(&run.text, run.size);
            }
            lines.next();
        }
        surface.finish();
        page.finish();
    }
    doc.finish()
        .map_err(|e| format!("the PDF could not be made: {e:?}"))
}

/// A line of text placed on an A4 page: `x` and `y` in millimetres from the
/// top left corner to the start of its baseline.
#[derive(Clone, Debug)]
pub struct PlacedLine {
    pub x_mm: f32,
    pub y_mm: f32,
    pub size: f32,
    pub bold: bool,
    pub text: String,
}

/// A4 pages of lines placed where the caller says, in the letters' fonts
/// (PDF/A-1b, like the letter display): for printed forms whose layout is
/// fixed by what they go into, such as the welcome letter whose address
/// must sit in an envelope's window.
/// `date` (year, month, day, UTC) is the document's creation date, which
/// PDF/A requires.
pub fn placed_pages(
    title: &str,
    date: (u16, u8, u8),
    pages: &[Vec<PlacedLine>],
) -> Result<Vec<u8>, String> {
    const MM: f32 = 72.0 / 25.4;
    let (regular, bold) = fonts()?;
    let mut regular = Face::new(REGULAR, regular.clone());
    let mut bold = Face::new(BOLD, bold.clone());
    let mut doc = pdf_a_document()?;
    doc.set_metadata(
        Metadata::new()
            .title(title.to_string())
            .creator("ATHEN".into())
            .producer("ATHEN (krilla)".into())
            .language("en-AU".into())
            .creation_date(
                DateTime::new(date.0)
                    .month(date.1)
                    .day(date.2)
                    .utc_offset_hour(0)
                    .utc_offset_minute(0),
            ),
    );
    for lines in pages {
        let mut page =
            doc.start_page_with(PageSettings::from_wh(PAGE_W, PAGE_H).ok_or("bad page size")?);
        let mut surface = page.surface();
        for l in lines {
            let face = if l.bold { &mut bold } else { &mut regular };
            let glyphs = face.layout(&l.text);
            surface.draw_glyphs(
                Point::from_xy(l.x_mm * MM, l.y_mm * MM),
                &glyphs,
                face.font.clone(),
                &l.text,
                l.size,
                false,
            );
        }
        surface.finish();
        page.finish();
    }
    doc.finish()
        .map_err(|e| format!("the PDF could not be made: {e:?}"))
}
