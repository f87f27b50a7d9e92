//! PIT, "Pathology Results Transfer" format version 07 (1 July 1996), as
//! Medical Director, Best Practice and Genie import letters
//! (../shared/reference/hl7-pit-formats.md "PIT"): 7-bit ASCII, CR LF,
//! each line a 3-digit code, a space, content from column 5, at most 80
//! columns; labelled values at column 27; the body on 301 lines wrapped at
//! 76 characters with `~SBLD~`-style markup, or (pit-rtf) the letter as RTF
//! on one 301 line.

use super::{Job, Letter, Output, ascii};
use crate::document::{Block, Inline, Style};
use crate::patient::Patient;

/// Column of labelled values (1-based).
const VALUE_COLUMN: usize = 27;
/// Body text after `301 `: importers join lines of 65+ characters to the
/// next, so real breaks stay real and long text is wrapped here.
const BODY_WIDTH: usize = 76;

/// A PIT file for one letter; `rtf` carries the body as RTF on one line.
pub fn write(letter: Letter<'_>, job: &Job, rtf: bool) -> Result<Output, String> {
    let x = letter.extraction;
    if let Some(why) = &x.not_possible {
        return Err(why.clone());
    }
    let p = &x.patient;
    let (Some(family), Some(dob)) = (&p.family_name, &p.birth_date) else {
        return Err("not possible, because the patient's name or date of birth is missing".into());
    };
    let Some(recipient) = &x.recipient else {
        return Err(
            "not possible, because the letter's addressee is not known (PIT line 123)".into(),
        );
    };
    if !(1..=9999).contains(&job.run_number) {
        return Err(format!("the run number {} is not 1–9999", job.run_number));
    }
    let now = &job.now;
    let run = format!("{:04}", job.run_number);
    let mut out: Vec<String> = Vec::new();

    // File header (001–099).
    let author = x.author.as_ref().map(|a| &a.value);
    let heading = author
        .and_then(|a| a.organisation.clone())
        .or_else(|| author.map(|a| a.display_name()))
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| "ATHEN secure messaging".into());
    let mut l001 = format!("001 {}", fit(&ascii(&heading), 58));
    place(&mut l001, 64, "07");
    place(&mut l001, 67, "01/07/1996");
    out.push(l001);
    out.push("002".into());
    let mut l003 = "003 Report Run Number :".to_string();
    place(&mut l003, 24, &run);
    place(&mut l003, 29, "Created:");
    place(&mut l003, 40, &now.date.to_string());
    place(&mut l003, 55, "at");
    place(&mut l003, 61, &now.time());
    out.push(l003);
    out.push(separator("009"));

    // One report (100–399).
    let given = p
        .given_names
        .as_ref()
        .map(|g| g.value.as_str())
        .unwrap_or("");
    out.push(labelled(
        "100",
        "Start Patient",
        &format!("{},{}", ascii(&family.value).to_uppercase(), ascii(given)),
    ));
    if let Some(a) = &p.address {
        let a = &a.value;
        let place_line = [
            a.suburb.as_deref(),
            a.state.as_deref(),
            a.postcode.as_deref(),
        ]
        .iter()
        .flatten()
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
        let text = [a.street.as_deref().unwrap_or(""), &place_line]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        out.push(labelled("101", "Address", &ascii(&text)));
    }
    let mut l104 = "104 Birthdate      :".to_string();
    place(&mut l104, 38, &dob.value.to_string());
    place(&mut l104, 50, &format!("Age: {}", age(dob.value, now.date)));
    place(&mut l104, 62, "Sex:");
    place(
        &mut l104,
        67,
        p.sex.as_ref().map(|s| s.value.code()).unwrap_or("U"),
    );
    out.push(l104);
    if let Some(phone) = &p.phone {
        let mut l105 = "105 Telephone      :".to_string();
        place(&mut l105, 38, &phone.value);
        out.push(l105);
    }
    out.push(labelled("110", "Your Reference", &fit(&job.control_id, 16)));
    out.push(labelled("111", "Lab Reference", &fit(&job.control_id, 16)));
    if let Some(m) = &p.medicare {
        let number = format!(
            "{}{}",
            m.value.number,
            m.value.irn.map(|i| i.to_string()).unwrap_or_default()
        );
        out.push(labelled("112", "Medicare Number", &fit(&number, 12)));
    }
    if let Some(a) = author {
        out.push(labelled(
            "121",
            "Referred by....",
            &fit(&ascii(&a.display_name()), 22),
        ));
    }
    let mut l123 = labelled(
        "123",
        "Addressee",
        &fit(&ascii(&recipient.value.display_name()), 22),
    );
    if let Some(pn) = &recipient.value.provider_number {
        place(&mut l123, 61, pn);
    }
    out.push(l123);
    out.push(separator("129"));
    out.push(labelled("200", "Start of Result", ""));
    let date = x.letter_date.as_ref().map(|d| d.value).unwrap_or(now.date);
    out.push(labelled("204", "Collected", &date.to_string()));
    // "LETTER" files it as correspondence in Medical Director.
    out.push(labelled("205", "Name of Test", "LETTER"));
    out.push(labelled(
        "206",
        "Reported",
        &format!("{} {:02}:{:02}", now.date, now.hour, now.minute),
    ));
    out.push(labelled("207", "Confidential", "Y"));
    out.push(labelled("208", "Test Category", "R"));
    out.push(separator("209"));
    if rtf {
        out.push(format!("301 {}", super::rtf::body(letter.body, &heading)));
    } else {
        for line in body_lines(letter) {
            out.push(format!("301 {line}").trim_end().to_string());
        }
    }
    out.push(labelled("390", "End of Report", ""));
    out.push(separator("399"));
    out.push(format!(
        "999 END OF LISTING - Run Number:{run}  {}  {}",
        now.date,
        now.time()
    ));

    let mut bytes = Vec::new();
    for line in &out {
        debug_assert!(rtf || line.len() <= 80, "{line}");
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    Ok(Output {
        file_name: format!("{}{:05}.PIT", job.sender_initials, job.run_number),
        mime_type: "text/plain",
        bytes,
    })
}

/// `D` under a month (days), `M` under two years (months), else `Y`.
fn age(born: crate::date::Date, on: crate::date::Date) -> String {
    let days = on.days_since_epoch() - born.days_since_epoch();
    let years = born.years_until(on);
    let (unit, n) = if days < 31 {
        ('D', days)
    } else if years < 2 {
        let months = (i64::from(on.year) - i64::from(born.year)) * 12 + i64::from(on.month)
            - i64::from(born.month)
            - i64::from(on.day < born.day);
        ('M', months)
    } else {
        ('Y', i64::from(years))
    };
    format!("{unit}{:03}", n.clamp(0, 999))
}

fn fit(s: &str, width: usize) -> String {
    s.chars().take(width).collect()
}

/// Pads `line` to column `col` (1-based) and writes `text` there.
fn place(line: &mut String, col: usize, text: &str) {
    while line.len() < col - 1 {
        line.push(' ');
    }
    line.truncate(col - 1);
    line.push_str(text);
}

fn labelled(code: &str, label: &str, value: &str) -> String {
    let mut line = format!("{code} {label:<15}:");
    if !value.is_empty() {
        place(&mut line, VALUE_COLUMN, value);
    }
    line
}

fn separator(code: &str) -> String {
    format!("{code} {}", "-".repeat(76))
}

/// One word of body text with its style; `None` is a line break.
type Word = Option<(String, Style)>;

fn words_of(content: &[Inline]) -> Vec<Word> {
    let mut words = Vec::new();
    for i in content {
        match i {
            Inline::Break => words.push(None),
            Inline::Text { text, style, link } => {
                // "~" starts PIT markup (~SBLD~) and has no escape.
                let mut t = ascii(text).replace('~', "-");
                if let Some(l) = link
                    && l != text
                    && !l.starts_with("mailto:")
                {
                    t.push_str(&format!(" ({})", ascii(l)));
                }
                for w in t.split_whitespace() {
                    words.push(Some((w.to_string(), *style)));
                }
            }
        }
    }
    words
}

fn open(style: Style) -> String {
    match (style.bold, style.underline) {
        (true, true) => "~SBLDSUND~".into(),
        (true, false) => "~SBLD~".into(),
        (false, true) => "~SUND~".into(),
        (false, false) => String::new(),
    }
}

fn close(style: Style) -> String {
    match (style.bold, style.underline) {
        (true, true) => "~EBLDEUND~".into(),
        (true, false) => "~EBLD~".into(),
        (false, true) => "~EUND~".into(),
        (false, false) => String::new(),
    }
}

/// Wraps styled words into lines of at most [`BODY_WIDTH`] characters
/// (markup included), each line closing its own formatting, so a line read
/// alone is never left bold. Longer words are hyphenated.
fn wrap(words: &[Word], indent: &str, first_prefix: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first_prefix.to_string();
    let mut current = Style::default();
    let mut has_word = false;
    let finish = |line: &mut String, current: &mut Style, lines: &mut Vec<String>| {
        line.push_str(&close(*current));
        *current = Style::default();
        lines.push(std::mem::take(line));
    };
    for w in words {
        let Some((word, style)) = w else {
            finish(&mut line, &mut current, &mut lines);
            line = indent.to_string();
            has_word = false;
            continue;
        };
        let style = Style {
            italic: false,
            ..*style
        };
        let mut rest = word.as_str();
        while !rest.is_empty() {
            // Formatting ends before the space and starts after it.
            let (ending, starting) = if style != current {
                (close(current), open(style))
            } else {
                (String::new(), String::new())
            };
            let switch_len = ending.len() + starting.len();
            let space = if has_word { 1 } else { 0 };
            let need = space + switch_len + rest.len() + close(style).len();
            if line.len() + need <= BODY_WIDTH {
                line.push_str(&ending);
                if has_word {
                    line.push(' ');
                }
                line.push_str(&starting);
                line.push_str(rest);
                current = style;
                has_word = true;
                rest = "";
            } else if has_word {
                finish(&mut line, &mut current, &mut lines);
                line = indent.to_string();
                has_word = false;
            } else {
                // A word longer than a line: hyphenate.
                let room = BODY_WIDTH
                    .saturating_sub(line.len() + switch_len + close(style).len() + 1)
                    .max(1);
                let cut = rest
                    .char_indices()
                    .nth(room)
                    .map(|(i, _)| i)
                    .unwrap_or(rest.len());
                line.push_str(&ending);
                line.push_str(&starting);
                line.push_str(&rest[..cut]);
                current = style;
                if cut < rest.len() {
                    line.push('-');
                }
                rest = &rest[cut..];
                finish(&mut line, &mut current, &mut lines);
                line = indent.to_string();
                has_word = false;
            }
        }
    }
    if has_word || !lines.is_empty() || line.len() > first_prefix.len() {
        line.push_str(&close(current));
        lines.push(line);
    }
    lines
}

/// The body as 301 line contents: paragraphs separated by an empty line,
/// headings bold and underlined, list items with hanging indents, tables
/// with cells two spaces apart.
fn body_lines(letter: Letter<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, block) in letter.body.blocks.iter().enumerate() {
        if block.gap_before(i) {
            out.push(String::new());
        }
        match block {
            Block::Paragraph { content } => out.extend(wrap(&words_of(content), "", "")),
            Block::Heading { content, .. } => {
                let words: Vec<Word> = words_of(content)
                    .into_iter()
                    .map(|w| {
                        w.map(|(t, s)| {
                            (
                                t,
                                Style {
                                    bold: true,
                                    underline: true,
                                    ..s
                                },
                            )
                        })
                    })
                    .collect();
                out.extend(wrap(&words, "", ""));
            }
            Block::ListItem { content, .. } => {
                let bullet = block.list_marker().unwrap_or_default();
                let indent = " ".repeat(bullet.len());
                out.extend(wrap(&words_of(content), &indent, &bullet));
            }
            Block::Table { rows } => {
                for row in rows {
                    let text = ascii(&row.join("  "));
                    let words: Vec<Word> = text
                        .split_whitespace()
                        .map(|w| Some((w.to_string(), Style::default())))
                        .collect();
                    out.extend(wrap(&words, "  ", ""));
                }
            }
        }
    }
    out
}

/// The patient line of a PIT header index (for tests and callers that
/// list files).
pub fn patient_label(p: &Patient) -> String {
    let family = p
        .family_name
        .as_ref()
        .map(|f| ascii(&f.value).to_uppercase())
        .unwrap_or_default();
    let given = p
        .given_names
        .as_ref()
        .map(|g| ascii(&g.value))
        .unwrap_or_default();
    format!("{family},{given}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::Date;
    use crate::extract::{Context, extract};
    use crate::patient::Party;
    use crate::read::text;
    use crate::write::Stamp;

    fn job() -> Job {
        Job {
            now: Stamp {
                date: Date::new(2026, 11, 24).unwrap(),
                hour: 10,
                minute: 15,
                second: 7,
                offset_minutes: 660,
            },
            run_number: 42,
            sender_initials: "NMC".into(),
            control_id: "ATHEN0000000001".into(),
            local_patient_id: None,
        }
    }

    fn letter_text() -> &'static str {
        "24 November 2026\n\nDear Dr Müller,\n\nRe: Mr Seán O'BRIEN\nDOB: 1.2.60\nSex: M\n\
Address: 12 Main St, Northside NSW 2000\nMedicare: 2123 45670 1 IRN 2\n\n\
Thank you for seeing Seán, a *63 year old* man with exertional chest pain that has \
become worse over the past three weeks despite glyceryl trinitrate. Supercalifragilisticexpialidocious-\
antidisestablishmentarianism-pneumonoultramicroscopicsilicovolcanoconiosis is not a word.\n\n\
Yours sincerely,\n\nDr Peter Smith\nProvider No: 2426621B\n"
    }

    fn convert() -> (crate::extract::Extraction, crate::document::Body) {
        let body = text::read(letter_text());
        let ctx = Context {
            today: Date::new(2026, 11, 24).unwrap(),
            author: None,
            recipient: Some(Party {
                title: Some("Dr".into()),
                given_names: Some("Anna".into()),
                family_name: Some("Müller".into()),
                provider_number: Some("4322581B".into()),
                ..Default::default()
            }),
            sent: None,
        };
        (extract(None, None, &body, &ctx), body)
    }

    #[test]
    fn pit_layout_columns_and_wrapping() {
        let (x, body) = convert();
        let out = write(
            Letter {
                extraction: &x,
                body: &body,
                original_pdf: None,
            },
            &job(),
            false,
        )
        .unwrap();
        assert_eq!(out.file_name, "NMC00042.PIT");
        let text = String::from_utf8(out.bytes.clone()).unwrap();
        assert!(text.is_ascii());
        assert!(text.ends_with("\r\n"));
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        for l in &lines {
            assert!(l.len() <= 80, "{l}");
            assert!(l.as_bytes()[..3].iter().all(u8::is_ascii_digit), "{l}");
            assert!(l.len() == 3 || l.as_bytes()[3] == b' ', "{l}");
        }
        let find = |code: &str| {
            *lines
                .iter()
                .find(|l| l.starts_with(code))
                .unwrap_or_else(|| panic!("no {code} in\n{text}"))
        };
        assert_eq!(&find("001")[63..65], "07");
        assert_eq!(&find("001")[66..76], "01/07/1996");
        let l003 = find("003");
        assert_eq!(&l003[23..27], "0042");
        assert_eq!(&l003[28..36], "Created:");
        assert_eq!(&l003[39..49], "24/11/2026");
        assert_eq!(&l003[60..68], "10:15:07");
        assert_eq!(&find("100")[26..], "O'BRIEN,Sean");
        assert_eq!(&find("101")[26..], "12 Main St, Northside NSW 2000");
        let l104 = find("104");
        assert_eq!(&l104[37..47], "01/02/1960");
        assert!(l104.contains("Age: Y066"));
        assert_eq!(&l104[66..67], "M");
        assert_eq!(&find("112")[26..], "21234567012");
        assert_eq!(&find("121")[26..], "Dr Peter Smith");
        let l123 = find("123");
        assert_eq!(l123[26..48].trim_end(), "Dr Anna Muller");
        assert_eq!(&l123[60..68], "4322581B");
        assert_eq!(&find("205")[26..], "LETTER");
        assert!(find("999").contains("Run Number:0042  24/11/2026  10:15:07"));
        let body: Vec<&str> = lines
            .iter()
            .filter(|l| l.starts_with("301"))
            .copied()
            .collect();
        assert!(
            body.iter().any(|l| l.contains("~SBLD~63 year old~EBLD~")),
            "{}",
            body.join("\n")
        );
        assert!(
            body.iter().any(|l| l.ends_with('-')),
            "a long word is hyphenated"
        );
        assert!(body.iter().all(|l| l.len() <= 80));
        let codes: Vec<&str> = lines.iter().map(|l| &l[..3]).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(codes, sorted, "codes in ascending order");
    }

    #[test]
    fn pit_rtf_and_not_possible() {
        let (x, body) = convert();
        let letter = Letter {
            extraction: &x,
            body: &body,
            original_pdf: None,
        };
        let out = write(letter, &job(), true).unwrap();
        let text = String::from_utf8(out.bytes).unwrap();
        let rtf_line = text.lines().find(|l| l.starts_with("301 ")).unwrap();
        assert!(rtf_line.starts_with("301 {\\rtf1"), "{rtf_line}");
        assert_eq!(text.lines().filter(|l| l.starts_with("301")).count(), 1);

        let mut missing = x.clone();
        missing.recipient = None;
        let err = write(
            Letter {
                extraction: &missing,
                body: &body,
                original_pdf: None,
            },
            &job(),
            false,
        )
        .unwrap_err();
        assert!(err.starts_with("not possible, because"), "{err}");
    }

    #[test]
    fn ages() {
        let d = |y, m, dd| Date::new(y, m, dd).unwrap();
        assert_eq!(age(d(2026, 11, 1), d(2026, 11, 24)), "D023");
        assert_eq!(age(d(2025, 1, 30), d(2026, 11, 24)), "M021");
        assert_eq!(age(d(1960, 2, 1), d(2026, 11, 24)), "Y066");
    }
}
