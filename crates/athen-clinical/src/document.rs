//! The LogicalDocument: the neutral form every reader produces and every
//! writer consumes (../shared/reference/athen-original.md "LogicalDocument").
//! A small rich-text tree, plus what was found about the patient, the
//! author, the recipient and the letter date, each with where it came from.

use serde::Serialize;

/// Inline formatting, as PIT (`~SBLD~`, `~SUND~`) and HL7 FT (`\H\`) can
/// carry it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Style {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bold: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub italic: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub underline: bool,
}

/// A run of text in one style, or a line break inside a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Inline {
    Text {
        text: String,
        #[serde(flatten)]
        style: Style,
        /// The target of a link, kept for display ("text (url)").
        #[serde(skip_serializing_if = "Option::is_none")]
        link: Option<String>,
    },
    Break,
}

/// A run's text as formats without links show it: the link's target in
/// brackets after it, unless it is the text itself or a mail address.
pub fn shown_text(text: &str, link: Option<&str>) -> String {
    match link {
        Some(l) if l != text && !l.starts_with("mailto:") => format!("{text} ({l})"),
        _ => text.to_string(),
    }
}

/// A block of the letter's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Block {
    Paragraph {
        content: Vec<Inline>,
    },
    /// Headings 1–3.
    Heading {
        level: u8,
        content: Vec<Inline>,
    },
    ListItem {
        ordered: bool,
        number: u32,
        content: Vec<Inline>,
    },
    /// A table, flattened to rows of cell texts.
    Table {
        rows: Vec<Vec<String>>,
    },
}

impl Block {
    /// What starts a list item's first line in plain text: `1. ` or `- `.
    pub fn list_marker(&self) -> Option<String> {
        match self {
            Block::ListItem {
                ordered: true,
                number,
                ..
            } => Some(format!("{number}. ")),
            Block::ListItem { .. } => Some("- ".into()),
            _ => None,
        }
    }

    /// Blocks are separated by an empty line, except consecutive list items.
    pub fn gap_before(&self, index: usize) -> bool {
        index > 0 && !matches!(self, Block::ListItem { .. })
    }

    /// The block's text without formatting, line breaks as `\n`, table
    /// cells separated by tabs.
    pub fn plain_text(&self) -> String {
        match self {
            Block::Paragraph { content }
            | Block::Heading { content, .. }
            | Block::ListItem { content, .. } => inline_text(content),
            Block::Table { rows } => rows
                .iter()
                .map(|r| r.join("\t"))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

pub fn inline_text(content: &[Inline]) -> String {
    let mut out = String::new();
    for i in content {
        match i {
            Inline::Text { text, .. } => out.push_str(text),
            Inline::Break => out.push('\n'),
        }
    }
    out
}

/// The body of a letter as read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Body {
    pub blocks: Vec<Block>,
}

impl Body {
    /// Every line of the body's text, in order (tables row by row), with
    /// an empty line between blocks: for a plain-text letter these are its
    /// own lines, so a line number points into the letter.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, b) in self.blocks.iter().enumerate() {
            if i > 0 {
                out.push(String::new());
            }
            out.extend(b.plain_text().split('\n').map(str::to_string));
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.iter().all(|b| b.plain_text().trim().is_empty())
    }
}
