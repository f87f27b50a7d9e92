//! A letter as rows of cells, and the label/value pairs in them, however
//! the sender laid them out: "Label: value" lines (several on one line),
//! a label cell beside its value cell, or a header row over a row of values
//! (HTML, RTF, DOCX and PDF tables; text columns made with tabs or spaces).

use crate::document::{Block, Body};

/// What a label says its value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Label {
    Patient(Field),
    /// A person who is not the patient; details after it in the same
    /// paragraph are theirs.
    Party(Role),
    /// The letter's own date.
    LetterDate,
    /// Anything else a letter labels (references, other dates, fax…):
    /// known so that it ends the value before it.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field {
    Person,
    FamilyName,
    GivenNames,
    BirthDate,
    Address,
    Medicare,
    Irn,
    Ihi,
    Dva,
    Sex,
    Phone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Recipient,
    Author,
    /// Next of kin, parent, carer…
    Relative,
}

use Field::*;
use Label::{LetterDate, Other, Party, Patient};
use Role::*;

/// Labels as letters write them: lower case, no dots, single spaces.
const LABELS: &[(&str, Label)] = &[
    ("re", Patient(Person)),
    ("patient", Patient(Person)),
    ("patient name", Patient(Person)),
    ("patient's name", Patient(Person)),
    ("name of patient", Patient(Person)),
    ("name", Patient(Person)),
    ("full name", Patient(Person)),
    ("client", Patient(Person)),
    ("client name", Patient(Person)),
    ("surname", Patient(FamilyName)),
    ("family name", Patient(FamilyName)),
    ("last name", Patient(FamilyName)),
    ("given name", Patient(GivenNames)),
    ("given names", Patient(GivenNames)),
    ("first name", Patient(GivenNames)),
    ("first names", Patient(GivenNames)),
    ("forename", Patient(GivenNames)),
    ("forenames", Patient(GivenNames)),
    ("dob", Patient(BirthDate)),
    ("d o b", Patient(BirthDate)),
    ("date of birth", Patient(BirthDate)),
    ("born", Patient(BirthDate)),
    ("birth date", Patient(BirthDate)),
    ("dob/age", Patient(BirthDate)),
    ("address", Patient(Address)),
    ("patient address", Patient(Address)),
    ("home address", Patient(Address)),
    ("residential address", Patient(Address)),
    ("medicare", Patient(Medicare)),
    ("medicare no", Patient(Medicare)),
    ("medicare number", Patient(Medicare)),
    ("medicare card", Patient(Medicare)),
    ("medicare card no", Patient(Medicare)),
    ("medicare card number", Patient(Medicare)),
    ("irn", Patient(Irn)),
    ("medicare irn", Patient(Irn)),
    ("ihi", Patient(Ihi)),
    ("ihi number", Patient(Ihi)),
    ("ihi no", Patient(Ihi)),
    ("dva", Patient(Dva)),
    ("dva no", Patient(Dva)),
    ("dva number", Patient(Dva)),
    ("dva file no", Patient(Dva)),
    ("dva file number", Patient(Dva)),
    ("sex", Patient(Sex)),
    ("gender", Patient(Sex)),
    ("phone", Patient(Phone)),
    ("ph", Patient(Phone)),
    ("tel", Patient(Phone)),
    ("telephone", Patient(Phone)),
    ("mobile", Patient(Phone)),
    ("mob", Patient(Phone)),
    ("home phone", Patient(Phone)),
    ("phone (h)", Patient(Phone)),
    ("phone (m)", Patient(Phone)),
    ("contact number", Patient(Phone)),
    ("contact phone", Patient(Phone)),
    ("to", Party(Recipient)),
    ("gp", Party(Recipient)),
    ("usual gp", Party(Recipient)),
    ("referring gp", Party(Recipient)),
    ("referring doctor", Party(Recipient)),
    ("attention", Party(Recipient)),
    ("attn", Party(Recipient)),
    ("reported by", Party(Author)),
    ("author", Party(Author)),
    ("written by", Party(Author)),
    ("dictated by", Party(Author)),
    ("signed by", Party(Author)),
    ("reporting pathologist", Party(Author)),
    ("discharging doctor", Party(Author)),
    ("next of kin", Party(Relative)),
    ("nok", Party(Relative)),
    ("parent", Party(Relative)),
    ("parent/guardian", Party(Relative)),
    ("guardian", Party(Relative)),
    ("mother", Party(Relative)),
    ("father", Party(Relative)),
    ("carer", Party(Relative)),
    ("emergency contact", Party(Relative)),
    ("contact person", Party(Relative)),
    ("partner", Party(Relative)),
    ("spouse", Party(Relative)),
    ("date", LetterDate),
    ("letter date", LetterDate),
    ("date of letter", LetterDate),
    ("report date", LetterDate),
    ("date of report", LetterDate),
    ("our ref", Other),
    ("your ref", Other),
    ("ref", Other),
    ("ur", Other),
    ("ur number", Other),
    ("ur no", Other),
    ("urn", Other),
    ("mrn", Other),
    ("hospital no", Other),
    ("lab no", Other),
    ("episode", Other),
    ("admission date", Other),
    ("discharge date", Other),
    ("date of admission", Other),
    ("date of discharge", Other),
    ("collected", Other),
    ("fax", Other),
    ("email", Other),
    ("e-mail", Other),
    ("abn", Other),
    ("provider no", Other),
    ("provider number", Other),
    ("medicare provider no", Other),
    ("medicare provider number", Other),
    ("test", Other),
    ("result", Other),
    ("range", Other),
    ("age", Other),
];

/// The longest label as a letter may write it ("Medicare card number:",
/// with dots and spaces), in bytes.
const MAX_LABEL: usize = 40;

/// A label's meaning, from its normalised text.
pub(super) fn label(norm: &str) -> Option<Label> {
    LABELS.iter().find(|(l, _)| *l == norm).map(|(_, k)| *k)
}

/// A label as written ("D.O.B.:", "Medicare No.") in the form of [`LABELS`].
pub(super) fn normalise(text: &str) -> String {
    text.trim()
        .trim_end_matches(':')
        .to_lowercase()
        .chars()
        .filter(|c| *c != '.')
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line of the letter, as cells.
#[derive(Clone, Debug)]
pub(super) struct Row {
    /// 0-based index into [`Body::lines`].
    pub line: usize,
    /// Which block of the body the row is in.
    pub block: usize,
    pub cells: Vec<String>,
    pub in_table: bool,
    /// The cells joined by two spaces, made once: salutations, sign-offs,
    /// signatures and addresses are looked for in it.
    text: String,
}

impl Row {
    fn new(line: usize, block: usize, cells: Vec<String>, in_table: bool) -> Row {
        let text = cells.join("  ");
        Row {
            line,
            block,
            cells,
            in_table,
            text,
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A letter's rows and the label/value pairs in them.
pub(super) struct Text {
    pub rows: Vec<Row>,
    pub pairs: Vec<Pair>,
}

impl Text {
    pub fn read(body: &Body, clean: impl Fn(&str) -> String) -> Text {
        let rows = rows(body, clean);
        let pairs = pairs(&rows);
        Text { rows, pairs }
    }
}

/// The body's rows, numbered as [`Body::lines`] numbers them. Text lines
/// are cut into cells at tabs and at runs of two or more spaces (columns
/// laid out by hand); table cells keep their line breaks as ", ".
fn rows(body: &Body, clean: impl Fn(&str) -> String) -> Vec<Row> {
    let mut out = Vec::new();
    let mut line = 0;
    for (b, block) in body.blocks.iter().enumerate() {
        if b > 0 {
            line += 1;
        }
        match block {
            Block::Table { rows } => {
                for r in rows {
                    let breaks: usize = r.iter().map(|c| c.matches('\n').count()).sum();
                    let cells: Vec<String> = r
                        .iter()
                        .map(|c| {
                            clean(c)
                                .split('\n')
                                .map(str::trim)
                                .filter(|s| !s.is_empty())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .collect();
                    out.push(Row::new(line, b, cells, true));
                    line += breaks + 1;
                }
            }
            other => {
                for text in other.plain_text().split('\n') {
                    let cells = columns(&clean(text));
                    out.push(Row::new(line, b, cells, false));
                    line += 1;
                }
            }
        }
    }
    out
}

/// A line cut into cells at tabs and at two or more spaces.
fn columns(text: &str) -> Vec<String> {
    let mut cells = Vec::new();
    for part in text.split('\t') {
        let mut cell = String::new();
        let mut spaces = 0;
        for c in part.chars() {
            if c == ' ' || c == '\u{a0}' {
                spaces += 1;
                continue;
            }
            if spaces >= 2 && !cell.is_empty() {
                cells.push(std::mem::take(&mut cell));
            } else if spaces > 0 && !cell.is_empty() {
                cell.push(' ');
            }
            spaces = 0;
            cell.push(c);
        }
        if !cell.is_empty() {
            cells.push(cell);
        }
    }
    cells
}

/// A label and its value, where they were found.
#[derive(Clone, Debug)]
pub(super) struct Pair {
    pub row: usize,
    pub label: String,
    pub kind: Label,
    pub value: String,
}

/// Every label/value pair of the letter, in reading order.
fn pairs(rows: &[Row]) -> Vec<Pair> {
    // Each cell's text as a label, worked out once: a cell is looked at as
    // a heading, a label beside a value, and a value.
    let labels: Vec<Vec<(String, Option<Label>)>> = rows
        .iter()
        .map(|r| {
            r.cells
                .iter()
                .map(|c| {
                    // A label is short; prose is never normalised.
                    if c.len() > MAX_LABEL {
                        return (String::new(), None);
                    }
                    let norm = normalise(c);
                    let kind = label(&norm);
                    (norm, kind)
                })
                .collect()
        })
        .collect();
    let is_label = |r: usize, c: usize| labels[r][c].1.is_some();
    let mut out = Vec::new();
    let mut r = 0;
    while r < rows.len() {
        let row = &rows[r];
        let width = row.cells.len();
        // A header row: every cell a label, and rows of values below it
        // (in the same table or text block) with as many cells.
        if width >= 2 && (0..width).all(|c| is_label(r, c)) {
            let mut below = r + 1;
            while below < rows.len()
                && rows[below].block == row.block
                && rows[below].cells.len() == width
                && !(0..width).any(|c| is_label(below, c))
            {
                for (c, cell) in rows[below].cells.iter().enumerate() {
                    let (norm, kind) = &labels[r][c];
                    out.push(Pair {
                        row: below,
                        label: norm.clone(),
                        kind: kind.unwrap_or(Other),
                        value: cell.clone(),
                    });
                }
                below += 1;
            }
            if below > r + 1 {
                r = below;
                continue;
            }
        }
        let mut c = 0;
        while c < width {
            // A label cell beside its value, which runs on to the next
            // cell that holds a label ("Address | 1 Main St | NSW | 2000").
            if let (norm, Some(kind)) = &labels[r][c]
                && c + 1 < width
                && !is_label(r, c + 1)
            {
                let taken = (c + 1..width)
                    .take_while(|&n| !is_label(r, n) && segments(&row.cells[n]).is_empty())
                    .count()
                    .max(1);
                out.push(Pair {
                    row: r,
                    label: norm.clone(),
                    kind: *kind,
                    value: row.cells[c + 1..c + 1 + taken].join(" "),
                });
                c += 1 + taken;
                continue;
            }
            for (label, kind, value) in segments(&row.cells[c]) {
                out.push(Pair {
                    row: r,
                    label,
                    kind,
                    value,
                });
            }
            c += 1;
        }
        r += 1;
    }
    out
}

/// "Patient: SMITH, John Sex: M DOB: 01/02/1960" → three pairs. A cell's
/// labels are the known ones before a colon, or a known label opening the
/// cell without one ("DOB 01/02/1960").
fn segments(cell: &str) -> Vec<(String, Label, String)> {
    // Where each label starts and ends (at its colon).
    let mut found: Vec<(usize, usize, String, Label)> = Vec::new();
    for (at, ch) in cell.char_indices() {
        if ch != ':' {
            continue;
        }
        let after = &cell[at + 1..];
        if !(after.is_empty() || after.starts_with([' ', '\t', '\u{a0}'])) {
            continue;
        }
        // The longest known label ending here, starting at a word start.
        // Labels are short: only the bytes before the colon that a label
        // can take are tried, so a long line costs its length, not its
        // length squared.
        let floor = (at.saturating_sub(MAX_LABEL)..=at)
            .find(|&i| cell.is_char_boundary(i))
            .unwrap_or(at);
        let best = cell[floor..at]
            .char_indices()
            .map(|(i, _)| floor + i)
            .filter(|&i| {
                i == 0
                    || cell[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|p| !p.is_alphanumeric() && p != '\'' && p != '/')
            })
            .find_map(|i| {
                let norm = normalise(&cell[i..at]);
                label(&norm).map(|k| (i, norm, k))
            });
        if let Some((start, norm, kind)) = best {
            found.push((start, at + 1, norm, kind));
        }
    }
    if found.first().is_none_or(|f| f.0 > 0) {
        // Compared without changing the cell's case: lower-casing can change
        // a text's length in bytes (the Kelvin sign becomes "k"), and the
        // value is cut from the cell itself.
        let opening = LABELS
            .iter()
            .filter(|(l, _)| {
                cell.get(..l.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(l))
                    && cell[l.len()..].starts_with([' ', '\u{a0}', '.'])
            })
            .max_by_key(|(l, _)| l.len());
        if let Some((l, kind)) = opening
            && found.first().is_none_or(|f| f.0 > l.len())
        {
            let end = l.len() + usize::from(cell[l.len()..].starts_with('.'));
            found.insert(0, (0, end, l.to_string(), *kind));
        }
    }
    let mut out = Vec::new();
    for (n, (_, end, norm, kind)) in found.iter().enumerate() {
        let stop = found.get(n + 1).map_or(cell.len(), |next| next.0);
        let value = cell[*end..stop.max(*end)]
            .trim()
            .trim_end_matches([',', ';'])
            .trim();
        out.push((norm.clone(), *kind, value.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::text;

    fn all(letter: &str) -> Vec<(String, String)> {
        let body = text::read(letter);
        let rows = rows(&body, |s| s.to_string());
        pairs(&rows)
            .into_iter()
            .map(|p| (p.label, p.value))
            .collect()
    }

    #[test]
    fn labels_on_one_line_in_columns_and_under_a_header() {
        assert_eq!(
            all("Patient: SMITH, John Paul    Sex: M    DOB: 01/02/1960"),
            [
                ("patient".into(), "SMITH, John Paul".into()),
                ("sex".into(), "M".into()),
                ("dob".into(), "01/02/1960".into())
            ]
        );
        assert_eq!(
            all("Name: John Smith Medicare No.: 2123 45670 1 Lab No: 26-1"),
            [
                ("name".into(), "John Smith".into()),
                ("medicare no".into(), "2123 45670 1".into()),
                ("lab no".into(), "26-1".into())
            ]
        );
        assert_eq!(
            all("Patient\tDate of birth\tOur ref\nJohn SMITH\t01/02/1960\tJS-1"),
            [
                ("patient".into(), "John SMITH".into()),
                ("date of birth".into(), "01/02/1960".into()),
                ("our ref".into(), "JS-1".into())
            ]
        );
        assert_eq!(
            all("Name:    John Smith      Date of birth:   01/02/1960\nSex\tMale"),
            [
                ("name".into(), "John Smith".into()),
                ("date of birth".into(), "01/02/1960".into()),
                ("sex".into(), "Male".into())
            ]
        );
        assert_eq!(
            all("DOB 01/02/1960 at 10:30 today"),
            [("dob".into(), "01/02/1960 at 10:30 today".into())]
        );
    }
}
