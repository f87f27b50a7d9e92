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

mod line;

use line::{Code, Line, Markup, PitText};

/// A line code, checked when the program is compiled.
macro_rules! code {
    ($s:literal) => {
        const { Code::new($s) }
    };
}

/// Column of labelled values (1-based).
const VALUE_COLUMN: usize = 27;
/// Body text after `301 `: importers join lines of 65+ characters to the
/// next, so real breaks stay real and long text is wrapped here.
const BODY_WIDTH: usize = 76;
const BODY: Code = Code::new("301");

/// A PIT file for one letter; `rtf` carries the body as RTF on one line.
/// Every value from the letter goes in as a [`PitText`]: whatever the
/// letter says, the file has exactly the lines below.
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
    let run = PitText::new(&format!("{:04}", job.run_number));
    let mut out: Vec<Line> = Vec::new();

    // File header (001–099).
    let author = x.author.as_ref().map(|a| &a.value);
    let heading = author
        .and_then(|a| a.organisation.clone())
        .or_else(|| author.map(|a| a.display_name()))
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| "ATHEN secure messaging".into());
    let mut l001 = Line::with(code!("001"), &PitText::fit(&heading, 58));
    l001.place(64, &PitText::new("07"));
    l001.place(67, &PitText::new("01/07/1996"));
    out.push(l001);
    out.push(Line::new(code!("002")));
    let mut l003 = Line::with(code!("003"), &PitText::new("Report Run Number :"));
    l003.place(24, &run);
    l003.place(29, &PitText::new("Created:"));
    l003.place(40, &PitText::new(&now.date.to_string()));
    l003.place(55, &PitText::new("at"));
    l003.place(61, &PitText::new(&now.time()));
    out.push(l003);
    out.push(separator(code!("009")));

    // One report (100–399).
    let given = p
        .given_names
        .as_ref()
        .map(|g| g.value.as_str())
        .unwrap_or("");
    out.push(labelled(
        code!("100"),
        "Start Patient",
        &PitText::new(&format!(
            "{},{}",
            ascii(&family.value).to_uppercase(),
            given
        )),
    ));
    if let Some(a) = &p.address {
        let a = &a.value;
        let place_line = [
            a.suburb.as_deref(),
            a.state.map(|s| s.code()),
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
        out.push(labelled(code!("101"), "Address", &PitText::new(&text)));
    }
    let mut l104 = Line::with(code!("104"), &PitText::new("Birthdate      :"));
    l104.place(38, &PitText::new(&dob.value.to_string()));
    l104.place(
        50,
        &PitText::new(&format!("Age: {}", age(dob.value, now.date))),
    );
    l104.place(62, &PitText::new("Sex:"));
    l104.place(
        67,
        &PitText::new(p.sex.as_ref().map(|s| s.value.code()).unwrap_or("U")),
    );
    out.push(l104);
    if let Some(phone) = &p.phone {
        let mut l105 = Line::with(code!("105"), &PitText::new("Telephone      :"));
        l105.place(38, &PitText::new(&phone.value));
        out.push(l105);
    }
    let reference = PitText::fit(&job.control_id, 16);
    out.push(labelled(code!("110"), "Your Reference", &reference));
    out.push(labelled(code!("111"), "Lab Reference", &reference));
    if let Some(m) = &p.medicare {
        let number = format!(
            "{}{}",
            m.value.number,
            m.value.irn.map(|i| i.to_string()).unwrap_or_default()
        );
        out.push(labelled(
            code!("112"),
            "Medicare Number",
            &PitText::fit(&number, 12),
        ));
    }
    if let Some(a) = author {
        out.push(labelled(
            code!("121"),
            "Referred by....",
            &PitText::fit(&a.display_name(), 22),
        ));
    }
    let mut l123 = labelled(
        code!("123"),
        "Addressee",
        &PitText::fit(&recipient.value.display_name(), 22),
    );
    if let Some(pn) = &recipient.value.provider_number {
        l123.place(61, &PitText::fit(pn, 16));
    }
    out.push(l123);
    out.push(separator(code!("129")));
    out.push(labelled(
        code!("200"),
        "Start of Result",
        &PitText::default(),
    ));
    let date = x.letter_date.as_ref().map(|d| d.value).unwrap_or(now.date);
    out.push(labelled(
        code!("204"),
        "Collected",
        &PitText::new(&date.to_string()),
    ));
    // "LETTER" files it as correspondence in Medical Director.
    out.push(labelled(
        code!("205"),
        "Name of Test",
        &PitText::new("LETTER"),
    ));
    out.push(labelled(
        code!("206"),
        "Reported",
        &PitText::new(&format!("{} {:02}:{:02}", now.date, now.hour, now.minute)),
    ));
    out.push(labelled(code!("207"), "Confidential", &PitText::new("Y")));
    out.push(labelled(code!("208"), "Test Category", &PitText::new("R")));
    out.push(separator(code!("209")));
    if rtf {
        out.push(Line::with(
            BODY,
            &PitText::rtf(&super::rtf::body(letter.body, &heading)),
        ));
    } else {
        out.extend(body_lines(letter));
    }
    out.push(labelled(code!("390"), "End of Report", &PitText::default()));
    out.push(separator(code!("399")));
    out.push(Line::with(
        code!("999"),
        &PitText::new(&format!(
            "END OF LISTING - Run Number:{}  {}  {}",
            run.as_str(),
            now.date,
            now.time()
        )),
    ));
    debug_assert!(rtf || out.iter().all(|l| l.len() <= 80));
    Ok(Output {
        file_name: format!("{}{:05}.PIT", job.sender_initials, job.run_number),
        mime_type: "text/plain",
        bytes: line::file(&out),
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

/// `code Label          :` with the value at column 27.
fn labelled(code: Code, label: &'static str, value: &PitText) -> Line {
    let mut line = Line::with(code, &PitText::new(&format!("{label:<15}:")));
    if !value.is_empty() {
        line.place(VALUE_COLUMN, value);
    }
    line
}

fn separator(code: Code) -> Line {
    Line::with(code, &PitText::new(&"-".repeat(76)))
}

/// One word of body text with its style; `None` is a line break.
type Word = Option<(PitText, Style)>;

fn words_of(content: &[Inline]) -> Vec<Word> {
    let mut words = Vec::new();
    for i in content {
        match i {
            Inline::Break => words.push(None),
            Inline::Text { text, style, link } => {
                let t = crate::document::shown_text(text, link.as_deref());
                for w in PitText::new(&t).words() {
                    words.push(Some((w, *style)));
                }
            }
        }
    }
    words
}

fn open(style: Style) -> Option<Markup> {
    match (style.bold, style.underline) {
        (true, true) => Some(const { Markup::new("~SBLDSUND~") }),
        (true, false) => Some(const { Markup::new("~SBLD~") }),
        (false, true) => Some(const { Markup::new("~SUND~") }),
        (false, false) => None,
    }
}

fn close(style: Style) -> Option<Markup> {
    match (style.bold, style.underline) {
        (true, true) => Some(const { Markup::new("~EBLDEUND~") }),
        (true, false) => Some(const { Markup::new("~EBLD~") }),
        (false, true) => Some(const { Markup::new("~EUND~") }),
        (false, false) => None,
    }
}

fn markup_len(m: Option<Markup>) -> usize {
    m.map_or(0, Markup::len)
}

/// Wraps styled words into 301 lines whose content is at most
/// [`BODY_WIDTH`] characters (markup included), each line closing its own
/// formatting, so a line read alone is never left bold. Longer words are
/// hyphenated.
fn wrap(words: &[Word], indent: &PitText, first_prefix: &PitText) -> Vec<Line> {
    let content_len = |l: &Line| l.len() - 4;
    let mut lines = Vec::new();
    let mut line = Line::with(BODY, first_prefix);
    let mut current = Style::default();
    let mut has_word = false;
    let finish = |line: &mut Line, current: &mut Style, lines: &mut Vec<Line>| {
        if let Some(m) = close(*current) {
            line.push_markup(m);
        }
        *current = Style::default();
        lines.push(std::mem::replace(line, Line::with(BODY, indent)));
    };
    for w in words {
        let Some((word, style)) = w else {
            finish(&mut line, &mut current, &mut lines);
            has_word = false;
            continue;
        };
        let style = Style {
            italic: false,
            ..*style
        };
        let mut rest = word.clone();
        while !rest.is_empty() {
            // Formatting ends before the space and starts after it.
            let (ending, starting) = if style != current {
                (close(current), open(style))
            } else {
                (None, None)
            };
            let switch_len = markup_len(ending) + markup_len(starting);
            let space = usize::from(has_word);
            let need = space + switch_len + rest.len() + markup_len(close(style));
            if content_len(&line) + need <= BODY_WIDTH {
                if let Some(m) = ending {
                    line.push_markup(m);
                }
                if has_word {
                    line.push_space();
                }
                if let Some(m) = starting {
                    line.push_markup(m);
                }
                line.push(&rest);
                current = style;
                has_word = true;
                rest = PitText::default();
            } else if has_word {
                finish(&mut line, &mut current, &mut lines);
                has_word = false;
            } else {
                // A word longer than a line: hyphenate.
                let room = BODY_WIDTH
                    .saturating_sub(content_len(&line) + switch_len + markup_len(close(style)) + 1)
                    .max(1);
                let (head, tail) = rest.split_at_char(room);
                if let Some(m) = ending {
                    line.push_markup(m);
                }
                if let Some(m) = starting {
                    line.push_markup(m);
                }
                line.push(&head);
                current = style;
                if !tail.is_empty() {
                    line.push(&PitText::new("-"));
                }
                rest = tail;
                finish(&mut line, &mut current, &mut lines);
                has_word = false;
            }
        }
    }
    if has_word || !lines.is_empty() || content_len(&line) > first_prefix.len() {
        if let Some(m) = close(current) {
            line.push_markup(m);
        }
        lines.push(line);
    }
    lines
}

/// The body as 301 lines: paragraphs separated by an empty line, headings
/// bold and underlined, list items with hanging indents, tables with cells
/// two spaces apart.
fn body_lines(letter: Letter<'_>) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    let none = PitText::default();
    for (i, block) in letter.body.blocks.iter().enumerate() {
        if block.gap_before(i) {
            out.push(Line::new(BODY));
        }
        match block {
            Block::Paragraph { content } => out.extend(wrap(&words_of(content), &none, &none)),
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
                out.extend(wrap(&words, &none, &none));
            }
            Block::ListItem { content, .. } => {
                let bullet = PitText::new(&block.list_marker().unwrap_or_default());
                let indent = PitText::new(&" ".repeat(bullet.len()));
                out.extend(wrap(&words_of(content), &indent, &bullet));
            }
            Block::Table { rows } => {
                for row in rows {
                    let words: Vec<Word> = PitText::new(&row.join("  "))
                        .words()
                        .map(|w| Some((w, Style::default())))
                        .collect();
                    out.extend(wrap(&words, &PitText::new("  "), &none));
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
    PitText::new(&format!("{family},{given}"))
        .as_str()
        .to_string()
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
