//! DOCX letters (Office Open XML, ECMA-376): `word/document.xml` read as a
//! stream of XML events, no tree: paragraphs, headings (`Heading1`–`3`
//! styles), list items (`w:numPr`), bold, italic, underline, line breaks,
//! tabs, and tables flattened to rows of cells. Deleted text of tracked
//! changes, field instructions and the fallback copies of alternate content
//! are skipped.
//!
//! The archive comes from anyone, so it is read with limits: a bounded
//! number of entries, and `document.xml` at most [`MAX_XML`] bytes however
//! well it compresses (no zip bomb can make it bigger).

use crate::document::{Block, Body, Inline, Style};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::io::{Cursor, Read};

/// The largest `word/document.xml` read, uncompressed.
const MAX_XML: u64 = 32 * 1024 * 1024;
const MAX_ENTRIES: usize = 10_000;

/// Reads a DOCX letter, or says why it cannot.
pub fn read(data: &[u8]) -> Result<Body, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(data))
        .map_err(|e| format!("the file is not a DOCX (ZIP) document: {e}"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!("the DOCX holds more than {MAX_ENTRIES} parts"));
    }
    let entry = zip
        .by_name("word/document.xml")
        .map_err(|_| "the DOCX has no word/document.xml".to_string())?;
    let mut xml = Vec::new();
    entry
        .take(MAX_XML + 1)
        .read_to_end(&mut xml)
        .map_err(|e| format!("the DOCX is damaged: {e}"))?;
    if xml.len() as u64 > MAX_XML {
        return Err("the DOCX text is larger than 32 MB".into());
    }
    read_document_xml(&xml)
}

#[derive(Default)]
struct Reader2 {
    blocks: Vec<Block>,
    inlines: Vec<Inline>,
    style: Style,
    heading: Option<u8>,
    list: bool,
    list_number: u32,
    in_text: bool,
    /// Inside w:delText, w:instrText or mc:Fallback: text not kept.
    skip: u32,
    /// Table nesting; cells of nested tables flatten into the outer one.
    tables: u32,
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell: String,
    in_rpr: bool,
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// `w:val` of an element; on/off properties are on when it is absent.
fn val(e: &BytesStart<'_>) -> Option<String> {
    e.attributes()
        .flatten()
        .find_map(|a| (local(a.key.as_ref()) == "val").then(|| a.value.to_string()))
}

fn on(e: &BytesStart<'_>) -> bool {
    !matches!(val(e).as_deref(), Some("0" | "false" | "off" | "none"))
}

/// Reads `word/document.xml`.
pub fn read_document_xml(xml: &[u8]) -> Result<Body, String> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(false);
    let mut r = Reader2::default();
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("the DOCX text is not well-formed XML: {e}"))?;
        match event {
            Event::Start(e) => r.start(&e, false),
            Event::Empty(e) => r.start(&e, true),
            Event::End(e) => r.end(local(e.name().as_ref())),
            // Entity references come as their own events.
            Event::Text(t) if r.in_text && r.skip == 0 => r.text(&t.xml10_content()),
            Event::GeneralRef(g) if r.in_text && r.skip == 0 => {
                let resolved = match g.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    Ok(None) => match g.xml10_content().as_ref() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    },
                    Err(_) => None,
                };
                if let Some(c) = resolved {
                    r.text(&c.to_string());
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    r.end_paragraph();
    r.flush_table();
    Ok(Body { blocks: r.blocks })
}

impl Reader2 {
    fn start(&mut self, e: &BytesStart<'_>, empty: bool) {
        let name = e.name();
        let name = local(name.as_ref());
        match name {
            "delText" | "instrText" | "Fallback" if !empty => self.skip += 1,
            "p" if !empty => {
                self.heading = None;
                self.list = false;
            }
            "pStyle" => {
                let v = val(e).unwrap_or_default().to_ascii_lowercase();
                if let Some(level) = v.strip_prefix("heading") {
                    self.heading = Some(level.trim().parse::<u8>().unwrap_or(1).clamp(1, 3));
                } else if v == "title" {
                    self.heading = Some(1);
                }
            }
            "numPr" => self.list = true,
            "rPr" if !empty => self.in_rpr = true,
            "b" if self.in_rpr => self.style.bold = on(e),
            "i" if self.in_rpr => self.style.italic = on(e),
            "u" if self.in_rpr => self.style.underline = on(e),
            "r" if !empty => self.style = Style::default(),
            "t" if !empty => self.in_text = true,
            "tab" if self.skip == 0 && !self.in_rpr => self.text("\t"),
            "br" | "cr" if self.skip == 0 => {
                if self.tables > 0 {
                    self.cell.push(' ');
                } else {
                    self.inlines.push(Inline::Break);
                }
            }
            "tbl" if !empty => {
                if self.tables == 0 {
                    self.end_paragraph();
                }
                self.tables += 1;
            }
            _ => {}
        }
    }

    fn end(&mut self, name: &str) {
        match name {
            "delText" | "instrText" | "Fallback" => self.skip = self.skip.saturating_sub(1),
            "t" => self.in_text = false,
            "rPr" => self.in_rpr = false,
            "p" => {
                if self.tables > 0 {
                    if !self.cell.is_empty() && !self.cell.ends_with(' ') {
                        self.cell.push(' ');
                    }
                } else {
                    self.end_paragraph();
                }
            }
            "tc" if self.tables == 1 => {
                let cell = std::mem::take(&mut self.cell);
                self.row
                    .push(cell.split_whitespace().collect::<Vec<_>>().join(" "));
            }
            "tr" if self.tables == 1 => {
                let row = std::mem::take(&mut self.row);
                if row.iter().any(|c| !c.is_empty()) {
                    self.rows.push(row);
                }
            }
            "tbl" => {
                self.tables = self.tables.saturating_sub(1);
                if self.tables == 0 {
                    self.flush_table();
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if self.tables > 0 {
            self.cell.push_str(text);
            return;
        }
        if let Some(Inline::Text {
            text: last, style, ..
        }) = self.inlines.last_mut()
            && *style == self.style
        {
            last.push_str(text);
            return;
        }
        self.inlines.push(Inline::Text {
            text: text.to_string(),
            style: self.style,
            link: None,
        });
    }

    fn end_paragraph(&mut self) {
        let content = std::mem::take(&mut self.inlines);
        let has_text = content.iter().any(|i| match i {
            Inline::Text { text, .. } => !text.trim().is_empty(),
            Inline::Break => false,
        });
        if !has_text {
            if !self.list {
                self.list_number = 0;
            }
            return;
        }
        let block = if let Some(level) = self.heading {
            Block::Heading { level, content }
        } else if self.list {
            self.list_number += 1;
            Block::ListItem {
                ordered: false,
                number: self.list_number,
                content,
            }
        } else {
            self.list_number = 0;
            Block::Paragraph { content }
        };
        self.blocks.push(block);
    }

    fn flush_table(&mut self) {
        if !self.rows.is_empty() {
            self.blocks.push(Block::Table {
                rows: std::mem::take(&mut self.rows),
            });
        }
    }
}

/// A minimal DOCX holding `document_xml`, for tests and benchmarks.
pub fn package(document_xml: &str) -> Vec<u8> {
    use std::io::Write;
    let mut out = Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let parts = [
            (
                "[Content_Types].xml",
                r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
            ),
            (
                "_rels/.rels",
                r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#,
            ),
            ("word/document.xml", document_xml),
        ];
        for (name, content) in parts {
            if z.start_file(name, opts).is_ok() {
                let _ = z.write_all(content.as_bytes());
            }
        }
        let _ = z.finish();
    }
    out.into_inner()
}

/// Wraps paragraphs' XML in a WordprocessingML document.
pub fn document(body_xml: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><w:body>{body_xml}</w:body></w:document>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_letter() {
        let xml = document(
            r#"<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Northside Medical Centre</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Dear Dr M&#252;ller,</w:t></w:r></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Patient:</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>O'BRIEN, Se&#225;n</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p><w:r><w:t>DOB:</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>01/02/1960</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
<w:p><w:r><w:t xml:space="preserve">He has </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>angina</w:t></w:r><w:r><w:rPr><w:b w:val="0"/></w:rPr><w:t xml:space="preserve"> &amp; </w:t></w:r><w:del><w:r><w:delText>deleted</w:delText></w:r></w:del><w:r><w:rPr><w:u w:val="single"/></w:rPr><w:t>gout</w:t></w:r><w:r><w:br/><w:t>next line</w:t></w:r></w:p>
<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>aspirin</w:t></w:r></w:p>
<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>HYPERLINK "x"</w:instrText></w:r><w:r><w:t>link text</w:t></w:r></w:p>"#,
        );
        let b = read(&package(&xml)).unwrap();
        assert_eq!(
            b.lines(),
            [
                "Northside Medical Centre",
                "",
                "Dear Dr Müller,",
                "",
                "Patient:\tO'BRIEN, Seán",
                "DOB:\t01/02/1960",
                "",
                "He has angina & gout",
                "next line",
                "",
                "aspirin",
                "",
                "link text"
            ]
        );
        assert!(matches!(&b.blocks[0], Block::Heading { level: 1, .. }));
        let Block::Paragraph { content } = &b.blocks[3] else {
            panic!("{:?}", b.blocks[3])
        };
        assert!(
            matches!(&content[1], Inline::Text { text, style, .. } if text == "angina" && style.bold)
        );
        assert!(
            matches!(&content[3], Inline::Text { text, style, .. } if text == "gout" && style.underline)
        );
        assert!(matches!(&b.blocks[4], Block::ListItem { .. }));
    }

    #[test]
    fn broken_files_are_reasons() {
        assert!(read(b"not a zip").unwrap_err().contains("not a DOCX"));
        assert!(read(&package("<w:document><w:body><w:p>")).is_ok());
        assert!(read(&package("<a></b>")).unwrap_err().contains("XML"));
        let mut z = package(&document("<w:p/>"));
        let len = z.len();
        z.truncate(len / 2);
        assert!(read(&z).is_err());
    }
}
