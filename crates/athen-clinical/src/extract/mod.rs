//! Finding the patient, the letter date, the author and the recipient, in
//! order of trust: the `X-Athen-Patient` header, the ATHEN subject syntax,
//! then the letter's own labelled lines. Every value is checked; a value
//! that fails is listed as a problem and never used. Two different patients,
//! or no date of birth, make conversion "not possible, because …".

mod names;
mod parties;
mod rows;

use crate::date::Date;
use crate::document::Body;
use crate::patient::*;
use athen_core::identifiers::{self, HealthIdentifierKind, State};
#[cfg(test)]
pub(crate) use names::TITLES;
pub use names::split_person;
use names::{fold, looks_like_name};
use rows::{Label, Pair, Row, Text};
use serde::Serialize;

/// What the caller knows besides the letter.
#[derive(Clone, Debug)]
pub struct Context {
    /// Today, for plausible birth dates and two-digit years.
    pub today: Date,
    /// The sender's directory entry, if the sender is known.
    pub author: Option<Party>,
    /// The recipient's directory entry.
    pub recipient: Option<Party>,
    /// The message's `Date:` header, as a date.
    pub sent: Option<Date>,
}

/// Everything found, with where and how sure, and what failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Extraction {
    pub patient: Patient,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub letter_date: Option<Found<Date>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<Found<Party>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Found<Party>>,
    /// Details found that failed their check.
    pub problems: Vec<Problem>,
    /// Set when no import file can be made, with the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_possible: Option<String>,
}

/// Reads the patient and letter details from a message's `X-Athen-Patient`
/// header (if any), its subject and its body.
pub fn extract(
    patient_header: Option<&str>,
    subject: Option<&str>,
    body: &Body,
    ctx: &Context,
) -> Extraction {
    extract_with_cover_note(patient_header, subject, body, None, ctx)
}

/// As [`extract`], for a letter that came attached behind a cover note
/// (the message's own text): the letter is read first; the note can add
/// an author when the letter has no signature, and anything it says about
/// the patient must agree with the letter.
pub fn extract_with_cover_note(
    patient_header: Option<&str>,
    subject: Option<&str>,
    body: &Body,
    cover_note: Option<&Body>,
    ctx: &Context,
) -> Extraction {
    let mut c = Collector::new(ctx.today);
    if let Some(h) = patient_header {
        c.read_header(h);
    }
    if let Some(s) = subject {
        c.read_subject(&without_controls(s, false));
    }
    let clean = |s: &str| without_controls(s, true);
    let letter = rows::Text::read(body, clean);
    let note = cover_note.map(|b| rows::Text::read(b, clean));
    // The letter first; the note only adds what the letter lacks, and
    // must agree with it on who the patient is.
    let texts = || std::iter::once(&letter).chain(note.as_ref());
    for text in texts() {
        c.read_letter(text);
    }
    c.finish();
    let letter_date = parties::letter_date(&letter, ctx.today, ctx.sent);
    let recipient = ctx
        .recipient
        .clone()
        .map(|p| Found::new(p, Source::Directory))
        .or_else(|| texts().find_map(parties::recipient));
    let author = ctx
        .author
        .clone()
        .map(|p| Found::new(p, Source::Directory))
        .or_else(|| texts().find_map(parties::author));
    let mut not_possible = c.conflict.take();
    if not_possible.is_none() {
        not_possible = if c.patient.family_name.is_none() {
            Some("not possible, because the letter does not name its patient".into())
        } else if c.patient.birth_date.is_none() {
            Some("not possible, because the patient's date of birth is not given".into())
        } else {
            None
        };
    }
    Extraction {
        patient: c.patient,
        letter_date,
        author,
        recipient,
        problems: c.problems,
        not_possible,
    }
}

/// Text with every control character (CR, LF, NUL, ESC, …) turned into a
/// space: a detail never holds one, whatever a letter or header put there.
/// A letter's lines may keep their tabs, which separate labels from values
/// and table cells until the line is split.
fn without_controls(text: &str, keep_tabs: bool) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && !(keep_tabs && c == '\t') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Collects candidate values; the first (most trusted) valid one wins.
struct Collector {
    today: Date,
    patient: Patient,
    problems: Vec<Problem>,
    /// Set when two sources name different patients.
    conflict: Option<String>,
    /// A separate "IRN" label, for the Medicare number found anywhere.
    irn: Option<(String, Source)>,
}

impl Collector {
    fn new(today: Date) -> Self {
        Self {
            today,
            patient: Patient::default(),
            problems: Vec::new(),
            conflict: None,
            irn: None,
        }
    }

    fn problem(&mut self, field: &str, found: &str, source: Source, reason: impl Into<String>) {
        self.problems.push(Problem {
            field: field.into(),
            found: found.into(),
            source,
            reason: reason.into(),
        });
    }

    fn describe(source: &Source) -> String {
        match source {
            Source::PatientHeader => "the patient header".into(),
            Source::Subject => "the subject".into(),
            Source::Letter { line, .. } => format!("line {line} of the letter"),
            Source::Directory => "the directory".into(),
            Source::DateHeader => "the Date header".into(),
        }
    }

    fn person(&mut self, text: &str, source: Source) {
        let (title, given, family) = split_person(text);
        let Some(family) = family else {
            return;
        };
        if let Some(known) = &self.patient.family_name {
            // The same family name with another first name is another
            // person (twins, a parent): as much a conflict as another name.
            let first = |g: &str| g.split_whitespace().next().map(fold);
            let other_given = match (&self.patient.given_names, &given) {
                (Some(k), Some(g)) => first(&k.value) != first(g),
                _ => false,
            };
            if (fold(&known.value) != fold(&family) || other_given) && self.conflict.is_none() {
                let who = |g: Option<&str>, f: &str| match g {
                    Some(g) => format!("{g} {f}"),
                    None => f.to_string(),
                };
                self.conflict = Some(format!(
                    "not possible, because the letter names two different patients: {} ({}) and {} ({})",
                    who(
                        self.patient.given_names.as_ref().map(|g| g.value.as_str()),
                        &known.value
                    ),
                    Self::describe(&known.source),
                    who(given.as_deref(), &family),
                    Self::describe(&source)
                ));
            }
            return;
        }
        self.patient.family_name = Some(Found::new(family, source.clone()));
        if self.patient.given_names.is_none()
            && let Some(g) = given
        {
            self.patient.given_names = Some(Found::new(g, source.clone()));
        }
        if self.patient.title.is_none()
            && let Some(t) = title
        {
            self.patient.title = Some(Found::new(t, source));
        }
    }

    fn birth_date(&mut self, text: &str, source: Source) {
        let date = match Date::parse(text, self.today.year) {
            Ok(d) => d,
            Err(e) => {
                self.problem("patient.birth_date", text, source, e);
                return;
            }
        };
        if date > self.today {
            self.problem(
                "patient.birth_date",
                text,
                source,
                "the date of birth is in the future",
            );
            return;
        }
        if date.years_until(self.today) > 125 {
            self.problem(
                "patient.birth_date",
                text,
                source,
                "the date of birth is more than 125 years ago",
            );
            return;
        }
        if let Some(known) = &self.patient.birth_date {
            if known.value != date && self.conflict.is_none() {
                self.conflict = Some(format!(
                    "not possible, because the letter gives two different dates of birth: {} ({}) and {} ({})",
                    known.value,
                    Self::describe(&known.source),
                    date,
                    Self::describe(&source)
                ));
            }
            return;
        }
        self.patient.birth_date = Some(Found::new(date, source));
    }

    fn sex(&mut self, text: &str, source: Source) {
        match Sex::parse(text) {
            Some(s) if self.patient.sex.is_none() => {
                self.patient.sex = Some(Found::new(s, source));
            }
            Some(_) => {}
            None => self.problem(
                "patient.sex",
                text,
                source,
                "sex must be M, F, O or U (or male, female, other, unknown)",
            ),
        }
    }

    fn address(&mut self, text: &str, source: Source) {
        if self.patient.address.is_some() || text.trim().is_empty() {
            return;
        }
        match parse_address(text) {
            Ok(a) => self.patient.address = Some(Found::new(a, source)),
            Err(reason) => self.problem("patient.address", text, source, reason),
        }
    }

    fn medicare(&mut self, text: &str, source: Source) {
        if self.patient.medicare.is_some() {
            return;
        }
        // "2123 45670 1", "2123456701-1", "2123 45670 1 IRN 2", "2123456701/2".
        let lower = text.to_ascii_lowercase();
        let (card, irn_part) = match lower.split_once("irn") {
            Some((c, i)) => (
                c.to_string(),
                Some(i.chars().filter(char::is_ascii_digit).collect::<String>()),
            ),
            None => match lower.split_once('/') {
                Some((c, i)) => (c.to_string(), Some(i.trim().to_string())),
                None => (lower.clone(), None),
            },
        };
        let digits: String = card.chars().filter(char::is_ascii_digit).collect();
        let joined = match &irn_part {
            Some(irn) if digits.len() == 10 => format!("{digits}{}", irn.trim()),
            _ => digits,
        };
        match identifiers::medicare_number(&joined) {
            Ok(n) => {
                let irn = n.get(10..11).and_then(|d| d.parse().ok());
                self.patient.medicare = Some(Found::new(
                    Medicare {
                        number: n[..10].to_string(),
                        irn,
                    },
                    source,
                ));
            }
            Err(e) => self.problem("patient.medicare", text, source, e.reason),
        }
    }

    fn ihi(&mut self, text: &str, source: Source) {
        if self.patient.ihi.is_some() {
            return;
        }
        match identifiers::health_identifier(HealthIdentifierKind::Ihi, text) {
            Ok(n) => self.patient.ihi = Some(Found::new(n, source)),
            Err(e) => self.problem("patient.ihi", text, source, e.reason),
        }
    }

    fn dva(&mut self, text: &str, source: Source) {
        if self.patient.dva.is_some() {
            return;
        }
        match identifiers::dva_number(text) {
            Ok(n) => self.patient.dva = Some(Found::new(n, source)),
            Err(e) => self.problem("patient.dva", text, source, e.reason),
        }
    }

    fn phone(&mut self, text: &str, source: Source) {
        if self.patient.phone.is_some() {
            return;
        }
        match identifiers::phone_number("Phone", text) {
            Ok(n) => self.patient.phone = Some(Found::new(n, source)),
            Err(e) => self.problem("patient.phone", text, source, e.reason),
        }
    }

    /// `X-Athen-Patient: family="Smith"; given="John Paul"; sex=M;
    /// dob=1960-02-01; street="1 Main St"; suburb=Northside; state=NSW;
    /// postcode=2000; medicare=2123456701; irn=1; ihi=…; dva=…; phone=…`
    fn read_header(&mut self, header: &str) {
        let source = Source::PatientHeader;
        // A value with a control character in it (an RFC 2231 `%0D`, say)
        // is refused, not cleaned: a program wrote this header, and one
        // that puts a line break in a name is not to be believed.
        let (fields, refused): (Vec<_>, Vec<_>) = parameters(header)
            .into_iter()
            .partition(|(_, v)| !v.chars().any(char::is_control));
        for (key, value) in refused {
            self.problem(
                &format!("patient.{}", key.to_ascii_lowercase()),
                &without_controls(&value, false),
                source.clone(),
                "the value holds a control character (a line break or similar)",
            );
        }
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        if let Some(family) = get("family") {
            let given = get("given").unwrap_or("");
            let title = get("title").map(|t| format!("{t} ")).unwrap_or_default();
            self.person(&format!("{family}, {title}{given}"), source.clone());
        }
        if let Some(d) = get("dob") {
            self.birth_date(d, source.clone());
        }
        if let Some(s) = get("sex") {
            self.sex(s, source.clone());
        }
        let address: Vec<&str> = ["street", "suburb", "state", "postcode"]
            .iter()
            .filter_map(|k| get(k))
            .collect();
        if !address.is_empty() {
            // The state is one of eight, or it is not used at all.
            let state = match get("state").map(str::parse::<State>) {
                None => None,
                Some(Ok(s)) => Some(s),
                Some(Err(e)) => {
                    self.problem(
                        "patient.address.state",
                        get("state").unwrap_or_default(),
                        source.clone(),
                        e.reason,
                    );
                    None
                }
            };
            let a = Address {
                street: get("street").and_then(non_empty),
                suburb: get("suburb").and_then(non_empty),
                state,
                postcode: get("postcode").and_then(non_empty),
            };
            match check_address(a) {
                Ok(a) => self.patient.address = Some(Found::new(a, source.clone())),
                Err(reason) => self.problem(
                    "patient.address",
                    &address.join(", "),
                    source.clone(),
                    reason,
                ),
            }
        }
        if let Some(m) = get("medicare") {
            let with_irn = match get("irn") {
                Some(irn) => format!("{m} IRN {irn}"),
                None => m.to_string(),
            };
            self.medicare(&with_irn, source.clone());
        }
        if let Some(v) = get("ihi") {
            self.ihi(v, source.clone());
        }
        if let Some(v) = get("dva") {
            self.dva(v, source.clone());
        }
        if let Some(v) = get("phone") {
            self.phone(v, source);
        }
    }

    /// `[SURNAME, Given (S) DOB:dd/mm/yyyy Street, Suburb NNNN] subject`
    /// (../shared/reference/athen-original.md "Subject-line patient metadata").
    fn read_subject(&mut self, subject: &str) {
        let Some(inner) = subject_brackets(subject) else {
            return;
        };
        let source = Source::Subject;
        let Some(dob_at) = inner.to_ascii_uppercase().find("DOB:") else {
            self.problem(
                "patient",
                inner,
                source,
                "the subject's patient part has no DOB:",
            );
            return;
        };
        let (who, rest) = (&inner[..dob_at], &inner[dob_at + 4..]);
        let (who, sex) = match (who.rfind('('), who.rfind(')')) {
            (Some(open), Some(close)) if open < close => {
                (&who[..open], Some(who[open + 1..close].trim()))
            }
            _ => (who, None),
        };
        self.person(who.trim(), source.clone());
        if let Some(s) = sex {
            self.sex(s, source.clone());
        }
        let rest = rest.trim_start();
        let (dob, address) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        self.birth_date(dob, source.clone());
        self.address(address.trim(), source);
    }

    /// The patient's details from the first label naming the patient
    /// ("Re:", "Patient:", a "Surname" cell) to the sign-off: the
    /// letterhead above and the signature below hold the practice's own
    /// phone and address. A letter that names no patient is read from its
    /// salutation. Details after a label naming someone else (next of kin,
    /// parent, the GP) belong to them, to the end of that paragraph.
    fn read_letter(&mut self, text: &Text) {
        let (rows, pairs) = (&text.rows[..], &text.pairs[..]);
        let end = parties::sign_off(rows).unwrap_or(rows.len());
        let is_person = |p: &Pair| {
            matches!(
                p.kind,
                Label::Patient(rows::Field::Person | rows::Field::FamilyName)
            ) && looks_like_name(&person_value(&p.value).0)
        };
        let start = pairs
            .iter()
            .find(|p| is_person(p))
            .map(|p| p.row)
            .or_else(|| parties::salutation_row(rows))
            .unwrap_or(0);
        let mut someone_else: Option<usize> = None;
        for pair in pairs {
            if pair.row < start || pair.row >= end {
                continue;
            }
            let row = &rows[pair.row];
            let source = Source::Letter {
                line: row.line + 1,
                label: pair.label.clone(),
            };
            let field = match pair.kind {
                Label::Party(_) => {
                    someone_else = Some(row.block);
                    continue;
                }
                Label::Patient(f) => f,
                _ => continue,
            };
            if field == rows::Field::Person && is_person(pair) {
                someone_else = None;
            }
            if someone_else == Some(row.block) || pair.value.is_empty() {
                continue;
            }
            match field {
                rows::Field::Person => {
                    if !is_person(pair) {
                        continue;
                    }
                    self.person_details(&pair.value, source);
                    // "Re: John SMITH" then the address on the lines below,
                    // without a label.
                    if !row.in_table {
                        self.address_below(rows, pairs, pair.row, end);
                    }
                }
                rows::Field::FamilyName => self.name_part(&pair.value, None, source),
                rows::Field::GivenNames => self.name_part("", Some(&pair.value), source),
                rows::Field::BirthDate => {
                    let date = pair
                        .value
                        .split(['(', ';'])
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .trim_end_matches(',');
                    self.birth_date(date, source)
                }
                rows::Field::Address => self.address(&pair.value, source),
                rows::Field::Medicare => self.medicare(&pair.value, source),
                rows::Field::Irn => {
                    if self.irn.is_none() {
                        self.irn = Some((pair.value.clone(), source));
                    }
                }
                rows::Field::Ihi => self.ihi(&pair.value, source),
                rows::Field::Dva => self.dva(&pair.value, source),
                rows::Field::Sex => self.sex(&pair.value, source),
                rows::Field::Phone => self.phone(&pair.value, source),
            }
        }
    }

    /// "John SMITH, DOB 01/02/1960, 1 Main St, Northside NSW 2000",
    /// "SMITH, John - DOB 01/02/1960 - MRN 1234": the name, and what follows.
    fn person_details(&mut self, value: &str, source: Source) {
        let (name, dob, rest) = person_value(value);
        if let Some(two) = two_people(&name) {
            self.conflict.get_or_insert(format!(
                "not possible, because the letter is about more than one person: {two}"
            ));
            return;
        }
        self.person(&name, source.clone());
        if let Some(dob) = dob {
            self.birth_date(&dob, source.clone());
        }
        let rest: Vec<&str> = rest
            .iter()
            .map(|s| s.as_str())
            .filter(|s| {
                let first = s.split([' ', ':']).next().unwrap_or_default();
                rows::label(&rows::normalise(first)).is_none()
            })
            .collect();
        if !rest.is_empty() {
            self.address(&rest.join(", "), source);
        }
    }

    /// Up to three unlabelled lines below the patient's name, ending in a
    /// postcode: the patient's address.
    fn address_below(&mut self, rows: &[Row], pairs: &[Pair], at: usize, end: usize) {
        // The first row of the unlabelled lines read so far.
        let mut first = None;
        for (i, row) in rows.iter().enumerate().skip(at + 1).take(5) {
            if i >= end || row.block != rows[at].block {
                return;
            }
            // A labelled line ("DOB: …") between name and address.
            if pairs.iter().any(|p| p.row == i) {
                first = None;
                continue;
            }
            let first = *first.get_or_insert(i);
            if i - first >= 3 {
                return;
            }
            let last = row.text().split_whitespace().last().unwrap_or_default();
            if last.len() == 4 && last.chars().all(|c| c.is_ascii_digit()) {
                let source = Source::Letter {
                    line: rows[first].line + 1,
                    label: "address".into(),
                };
                let lines: Vec<&str> = rows[first..=i].iter().map(Row::text).collect();
                self.address(&lines.join(", "), source);
                return;
            }
        }
    }

    /// A "Surname" or "Given names" cell: the name is built from both.
    fn name_part(&mut self, family: &str, given: Option<&str>, source: Source) {
        match given {
            Some(g) => {
                if let Some(known) = &self.patient.given_names {
                    if fold(&known.value) != fold(g) {
                        self.conflict.get_or_insert(format!(
                            "not possible, because the letter names two different patients: {} and {}",
                            known.value, g
                        ));
                    }
                } else if !g.trim().is_empty() {
                    self.patient.given_names = Some(Found::new(g.trim().to_string(), source));
                }
            }
            None => self.person(&format!("{family},"), source),
        }
    }

    /// What is settled once every source is read: the IRN of a separate
    /// "IRN" label, and sex from the patient's title.
    fn finish(&mut self) {
        if let (Some((irn, source)), Some(m)) = (self.irn.take(), self.patient.medicare.as_mut())
            && m.value.irn.is_none()
        {
            match irn.trim().parse::<u8>() {
                Ok(n @ 1..=9) => m.value.irn = Some(n),
                _ => self.problems.push(Problem {
                    field: "patient.medicare.irn".into(),
                    found: irn,
                    source,
                    reason: "the IRN must be one digit from 1 to 9".into(),
                }),
            }
        }
        // Sex from the title when no field says it; never from a name.
        if self.patient.sex.is_none()
            && let Some(t) = &self.patient.title
        {
            let sex = match t.value.as_str() {
                "Mr" | "Master" => Some(Sex::Male),
                "Mrs" | "Ms" | "Miss" => Some(Sex::Female),
                _ => None,
            };
            if let Some(s) = sex {
                self.patient.sex = Some(Found::new(s, t.source.clone()));
            }
        }
    }
}

/// A person label's value cut into the name, the date of birth after a
/// "DOB" marker, and the parts after that ("Re: your patient Mr John
/// SMITH, DOB 1/2/60, 1 Main St, Northside 2000").
fn person_value(value: &str) -> (String, Option<String>, Vec<String>) {
    // ASCII lower case keeps every byte where it was, so positions found
    // in `lower` cut `value` at the same characters.
    let lower = value.to_ascii_lowercase();
    let mut name_start = 0;
    for lead in [
        "our mutual patient",
        "your patient",
        "mutual patient",
        "our patient",
    ] {
        if let Some(at) = lower.find(lead) {
            name_start = at + lead.len();
        }
    }
    let marker = ["d.o.b.", "d.o.b", "dob", "born", "date of birth"]
        .iter()
        .filter_map(|m| {
            lower[name_start..]
                .match_indices(m)
                .find(|(at, _)| {
                    let at = name_start + at;
                    at == 0 || !lower[..at].ends_with(char::is_alphanumeric)
                })
                .map(|(at, _)| (name_start + at, m.len()))
        })
        .min();
    let cut_name = |s: &str| {
        s.split(" - ")
            .next()
            .unwrap_or_default()
            .trim()
            .trim_start_matches([',', ':', '-', ' '])
            .trim_end_matches([' ', ',', '(', '-', '–'])
            .to_string()
    };
    let Some((at, len)) = marker else {
        return (cut_name(&value[name_start..]), None, Vec::new());
    };
    let name = cut_name(&value[name_start..at]);
    let after = value[at + len..].trim_start_matches([':', ' ', '.']);
    let mut parts = after
        .split([',', ')', ';'])
        .flat_map(|p| p.split(" - "))
        .map(|p| {
            p.trim()
                .trim_start_matches(['-', '–', '('])
                .trim()
                .to_string()
        });
    let dob = parts.next().filter(|d| !d.is_empty());
    (name, dob, parts.filter(|p| !p.is_empty()).collect())
}

/// "Ava and Noah NGUYEN", "Mr & Mrs Smith": a name of two people.
fn two_people(name: &str) -> Option<String> {
    let lower = format!(" {} ", name.to_lowercase());
    [" and ", " & ", " + "]
        .iter()
        .any(|j| lower.contains(j))
        .then(|| name.to_string())
}

/// The patient named in a subject's ATHEN syntax, for a folder list:
/// "O'BRIEN, Sean (M) · 01/02/1960" from `[O'BRIEN, Sean (M) DOB:01/02/1960 …]`.
/// `None` when the subject has no such part.
pub fn patient_in_subject(subject: &str) -> Option<String> {
    let inner = subject_brackets(subject)?;
    let at = inner.to_ascii_uppercase().find("DOB:")?;
    let who = inner[..at].trim();
    let dob = inner[at + 4..]
        .split_whitespace()
        .next()
        .unwrap_or_default();
    (!who.is_empty()).then(|| format!("{who} · {dob}"))
}

/// The text inside the subject's leading `[…]`, after any `Re:`/`Fwd:`.
fn subject_brackets(subject: &str) -> Option<&str> {
    let mut s = subject.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let cut = ["re:", "fw:", "fwd:", "aw:"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| p.len());
        match cut {
            Some(n) => s = s[n..].trim_start(),
            None => break,
        }
    }
    let inner = s.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(&inner[..end])
}

/// `key=value; key="quoted value"; key*=utf-8''%C3%BC` pairs (RFC 2045
/// §5.1, RFC 2231 §4), as [`crate::compose::parameter`] writes them.
pub fn parameters(header: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().trim_start_matches(';').trim().to_string();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &q[end.min(q.len())..])
        } else {
            let (v, n) = after.split_once(';').unwrap_or((after, ""));
            (v.trim().to_string(), n)
        };
        // RFC 2231 §4: `key*=charset'language'percent-encoded`.
        match key.strip_suffix('*') {
            Some(k) => {
                if let Some(v) = extended_value(&value) {
                    out.push((k.to_string(), v));
                }
            }
            None => out.push((key, value)),
        }
        rest = next.trim_start().trim_start_matches(';').trim_start();
    }
    out
}

/// An RFC 2231 extended value in UTF-8 (or ASCII); `None` for another
/// charset or bad encoding, rather than a wrong name.
fn extended_value(v: &str) -> Option<String> {
    let mut parts = v.splitn(3, '\'');
    let charset = parts.next()?;
    let _language = parts.next()?;
    let data = parts.next()?;
    if !(charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("us-ascii")) {
        return None;
    }
    let bytes = data.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// "1 Main St, Northside NSW 2000", "1 Main St, Northside 2000",
/// "1 Main St\nNorthside  NSW  2000".
pub fn parse_address(text: &str) -> Result<Address, String> {
    let flat = text
        .split(['\n', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let words: Vec<&str> = flat.split_whitespace().collect();
    let mut a = Address::default();
    let mut end = words.len();
    if let Some(last) = words.last()
        && last.len() == 4
        && last.chars().all(|c| c.is_ascii_digit())
    {
        a.postcode = Some(last.to_string());
        end -= 1;
    }
    if end > 0
        && let Ok(state) = words[end - 1].trim_end_matches(',').parse::<State>()
    {
        a.state = Some(state);
        end -= 1;
    }
    let front = words[..end].join(" ");
    let front = front.trim_end_matches(',');
    match front.rsplit_once(',') {
        Some((street, suburb)) => {
            a.street = non_empty(street);
            a.suburb = non_empty(suburb);
        }
        None => {
            // "12 Main Street NORTHSIDE": the street ends at its type.
            let words: Vec<&str> = front.split_whitespace().collect();
            match words.iter().rposition(|w| {
                STREET_TYPES.contains(&w.trim_end_matches('.').to_lowercase().as_str())
            }) {
                Some(at) if at + 1 < words.len() && at > 0 => {
                    a.street = non_empty(&words[..=at].join(" "));
                    a.suburb = non_empty(&words[at + 1..].join(" "));
                }
                _ => a.street = non_empty(front),
            }
        }
    }
    // A postcode that only one state uses says the state.
    if a.state.is_none()
        && let Some(p) = a.postcode.as_deref().and_then(|p| p.parse::<u16>().ok())
    {
        let mut states = State::ALL.into_iter().filter(|s| s.has_postcode(p));
        if let (Some(s), None) = (states.next(), states.next()) {
            a.state = Some(s);
        }
    }
    check_address(a)
}

/// The last word of a street ("12 Main Street NORTHSIDE").
const STREET_TYPES: [&str; 34] = [
    "street",
    "st",
    "road",
    "rd",
    "avenue",
    "ave",
    "av",
    "drive",
    "dr",
    "parade",
    "pde",
    "place",
    "pl",
    "crescent",
    "cres",
    "highway",
    "hwy",
    "terrace",
    "tce",
    "lane",
    "ln",
    "way",
    "court",
    "ct",
    "close",
    "cl",
    "circuit",
    "cct",
    "boulevard",
    "bvd",
    "grove",
    "gr",
    "square",
    "esplanade",
];

/// The postcode must exist, and be in the state if both are given.
fn check_address(a: Address) -> Result<Address, String> {
    if let Some(p) = &a.postcode {
        identifiers::postcode(p).map_err(|e| e.reason)?;
        if let Some(state) = a.state {
            identifiers::postcode_in_state(p, state)
                .map_err(|_| format!("postcode {p} is not in {}", state.code()))?;
        }
    }
    if a.street.is_none() && a.suburb.is_none() && a.postcode.is_none() {
        return Err("the address has no street, suburb or postcode".into());
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::text;
    use proptest::prelude::*;

    /// Text whose length in bytes changes with its case (the Kelvin sign
    /// is 3 bytes and lower-cases to "k"; "İ" is 2 and becomes 3) is cut
    /// where it was read, never inside a character.
    #[test]
    fn case_that_changes_length_cuts_nothing_in_half() {
        for letter in [
            "Re: \u{212A}\u{212A}x dob 1/2/60",
            "Re: İİİ your patient SMITH, John DOB 01/02/1960",
            "\u{212A}\u{212A}DOB 01/02/1960",
            "Patient: \u{212A}\u{212A}\u{212A}\u{212A}\u{212A} your patient Jo DOB 1/2/60",
        ] {
            let _ = extract(None, None, &text::read(letter), &ctx());
        }
        let x = extract(
            None,
            None,
            &text::read("Re: İris SMITH, DOB 01/02/1960"),
            &ctx(),
        );
        assert_eq!(x.patient.given_names.unwrap().value, "İris");
    }

    /// Lines made of the labels letters use, with any text after them,
    /// laid out in lines, tab columns or space columns.
    fn letter_lines() -> impl Strategy<Value = String> {
        let label = prop::sample::select(vec![
            "Re: ",
            "Patient: ",
            "Name\t",
            "Surname\t",
            "Given names\t",
            "DOB ",
            "D.O.B.: ",
            "Date of birth: ",
            "Address: ",
            "Medicare: ",
            "IRN: ",
            "Sex: ",
            "Phone: ",
            "Next of kin: ",
            "GP: ",
            "Dear ",
            "Yours sincerely,",
            "Provider No: ",
            "",
        ]);
        let value = prop_oneof![
            "\\PC{0,30}",
            Just("Mr John SMITH".to_string()),
            Just("01/02/1960".to_string()),
            Just("1 Main St, Northside NSW 2000".to_string()),
            Just("2123 45670 1 (IRN 1)".to_string()),
            Just("Ava and Noah SMITH".to_string()),
        ];
        let sep = prop::sample::select(vec!["\n", "\n\n", "\t", "   ", " "]);
        prop::collection::vec((label, value, sep), 0..24).prop_map(|parts| {
            parts
                .into_iter()
                .map(|(l, v, s)| format!("{l}{v}{s}"))
                .collect()
        })
    }

    proptest! {
        /// Any letter is read without a panic; a letter that can be
        /// converted names its patient and their birth date; no detail
        /// holds a control character.
        #[test]
        fn any_letter_reads_and_a_converted_one_has_its_patient(letter in letter_lines()) {
            let x = extract(None, None, &text::read(&letter), &ctx());
            if x.not_possible.is_none() {
                prop_assert!(x.patient.family_name.is_some());
                prop_assert!(x.patient.birth_date.is_some());
            }
            let p = &x.patient;
            for text in [&p.family_name, &p.given_names, &p.title, &p.phone, &p.dva, &p.ihi]
                .into_iter()
                .flatten()
            {
                prop_assert!(!text.value.chars().any(char::is_control), "{:?}", text.value);
            }
        }
    }

    fn ctx() -> Context {
        Context {
            today: Date::new(2026, 11, 24).unwrap(),
            author: None,
            recipient: None,
            sent: Date::new(2026, 11, 20),
        }
    }

    #[test]
    fn the_patient_of_a_subject_for_lists() {
        assert_eq!(
            patient_in_subject(
                "Re: [O'BRIEN, Sean (M) DOB:01/02/1960 1 Main St, Northside 2000] Referral"
            )
            .as_deref(),
            Some("O'BRIEN, Sean (M) · 01/02/1960")
        );
        assert_eq!(patient_in_subject("[note] hello"), None);
        assert_eq!(patient_in_subject("Referral"), None);
        assert_eq!(patient_in_subject("[ DOB:] x"), None);
    }

    #[test]
    fn subject_syntax_with_and_without_address() {
        let body = Body::default();
        let x = extract(
            None,
            Some("[O'BRIEN, Mary Anne (F) DOB:01/02/1960 12 Main St, Northside 2000] Referral"),
            &body,
            &ctx(),
        );
        let p = &x.patient;
        assert_eq!(p.family_name.as_ref().unwrap().value, "O'BRIEN");
        assert_eq!(p.given_names.as_ref().unwrap().value, "Mary Anne");
        assert_eq!(p.sex.as_ref().unwrap().value, Sex::Female);
        assert_eq!(p.birth_date.as_ref().unwrap().value.iso(), "1960-02-01");
        let a = &p.address.as_ref().unwrap().value;
        assert_eq!(a.street.as_deref(), Some("12 Main St"));
        assert_eq!(a.suburb.as_deref(), Some("Northside"));
        assert_eq!(a.postcode.as_deref(), Some("2000"));
        assert_eq!(p.birth_date.as_ref().unwrap().source, Source::Subject);
        assert_eq!(x.not_possible, None);

        let x = extract(
            None,
            Some("Re: [SMITH-JONES, Tom (M) DOB:3.4.75] x"),
            &body,
            &ctx(),
        );
        assert_eq!(x.patient.family_name.unwrap().value, "SMITH-JONES");
        assert_eq!(x.patient.birth_date.unwrap().value.year, 1975);
    }

    #[test]
    fn a_bad_birth_date_is_a_problem_not_a_default() {
        let x = extract(
            None,
            Some("[SMITH, Tom (M) DOB:31/02/1960] x"),
            &Body::default(),
            &ctx(),
        );
        assert!(x.patient.birth_date.is_none());
        assert_eq!(x.problems.len(), 1);
        assert!(x.problems[0].reason.contains("no such day"));
        assert!(
            x.not_possible
                .unwrap()
                .contains("date of birth is not given")
        );
    }

    #[test]
    fn labelled_lines_of_a_real_letter() {
        let letter = "Northside Medical Centre\n1 High St, Northside NSW 2000\n\n24 November 2026\n\n\
Dr Anna Müller\nSouthside Clinic\n\nDear Dr Müller,\n\nRe: Mr John Paul NGUYỄN\nD.O.B.: 1.2.60\n\
Address: 5 Low Rd, Southside VIC 3000\nMedicare No: 2123 45670 1\nIHI 8003608833357361\nPh: 02 9876 5432\n\n\
Thank you for seeing John.\n\nYours sincerely,\n\nDr Peter Smith\nProvider No: 2426621B\n";
        let x = extract(None, None, &text::read(letter), &ctx());
        let p = &x.patient;
        assert_eq!(p.family_name.as_ref().unwrap().value, "NGUYỄN");
        assert_eq!(p.given_names.as_ref().unwrap().value, "John Paul");
        assert_eq!(p.title.as_ref().unwrap().value, "Mr");
        assert_eq!(p.birth_date.as_ref().unwrap().value.iso(), "1960-02-01");
        assert_eq!(
            p.birth_date.as_ref().unwrap().source,
            Source::Letter {
                line: 12,
                label: "dob".into()
            }
        );
        assert_eq!(
            p.address.as_ref().unwrap().value.state.map(|s| s.code()),
            Some("VIC")
        );
        assert_eq!(p.medicare.as_ref().unwrap().value.number, "2123456701");
        assert_eq!(p.ihi.as_ref().unwrap().value, "8003608833357361");
        assert!(p.phone.is_some());
        assert_eq!(x.letter_date.unwrap().value.iso(), "2026-11-24");
        let author = x.author.unwrap().value;
        assert_eq!(author.family_name.as_deref(), Some("Smith"));
        assert_eq!(author.provider_number.as_deref(), Some("2426621B"));
        assert_eq!(
            x.recipient.unwrap().value.family_name.as_deref(),
            Some("Müller")
        );
        assert!(x.problems.is_empty(), "{:?}", x.problems);
        assert_eq!(x.not_possible, None);
    }

    #[test]
    fn failed_checks_are_listed_and_not_used() {
        let letter = "Patient: SMITH, Jane\nDOB: 01/02/1960\nMedicare: 2123 45671 1\n\
Address: 1 Main St, Northside VIC 2000\nIHI: 8003608833357362\n";
        let x = extract(None, None, &text::read(letter), &ctx());
        assert!(x.patient.medicare.is_none());
        assert!(x.patient.ihi.is_none());
        assert!(x.patient.address.is_none());
        let fields: Vec<&str> = x.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["patient.medicare", "patient.address", "patient.ihi"]
        );
        assert!(x.problems[1].reason.contains("2000 is not in VIC"));
        assert_eq!(x.not_possible, None, "the letter can still be converted");
    }

    #[test]
    fn two_patients_make_it_not_possible() {
        let x = extract(
            None,
            Some("[SMITH, Jane (F) DOB:01/02/1960] Referral"),
            &text::read("Re: BROWN, Tom\nDOB: 01/02/1960\n"),
            &ctx(),
        );
        let why = x.not_possible.unwrap();
        assert!(why.contains("two different patients"), "{why}");
        assert!(
            why.contains("Jane SMITH (the subject) and Tom BROWN (line 1 of the letter)"),
            "{why}"
        );
        let x = extract(
            None,
            None,
            &text::read("Re: SMITH, Jane DOB 01/02/1960\nDOB: 02/02/1960\n"),
            &ctx(),
        );
        assert!(
            x.not_possible
                .unwrap()
                .contains("two different dates of birth")
        );
    }

    #[test]
    fn the_patient_header_comes_first() {
        let x = extract(
            Some(
                "family=\"Müller\"; given=\"Anna Maria\"; sex=F; dob=1960-02-01; street=\"1 Main St\"; suburb=Northside; state=NSW; postcode=2000; medicare=2123456701; irn=1",
            ),
            Some("[MÜLLER, Anna (F) DOB:01/02/1960] x"),
            &Body::default(),
            &ctx(),
        );
        let p = &x.patient;
        assert_eq!(
            p.family_name.as_ref().unwrap().source,
            Source::PatientHeader
        );
        assert_eq!(
            p.family_name.as_ref().unwrap().confidence,
            Confidence::Certain
        );
        assert_eq!(p.given_names.as_ref().unwrap().value, "Anna Maria");
        assert_eq!(p.medicare.as_ref().unwrap().value.irn, Some(1));
        assert_eq!(
            x.not_possible, None,
            "the same patient twice is not a conflict"
        );
    }

    #[test]
    fn names_people_write() {
        assert_eq!(
            split_person("Dr Anna MÜLLER"),
            (
                Some("Dr".into()),
                Some("Anna".into()),
                Some("MÜLLER".into())
            )
        );
        assert_eq!(
            split_person("SMITH-JONES, Mrs Kate"),
            (
                Some("Mrs".into()),
                Some("Kate".into()),
                Some("SMITH-JONES".into())
            )
        );
        assert_eq!(
            split_person("Mary O'Brien"),
            (None, Some("Mary".into()), Some("O'Brien".into()))
        );
        assert_eq!(split_person(""), (None, None, None));
    }
}
