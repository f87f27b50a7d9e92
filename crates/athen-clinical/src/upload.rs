//! Files a practice's clinical system writes to send (the downloader's
//! upload folder, issue 7; ../shared/reference/athen-original.md
//! "Downloader state machine"): who each is addressed to, by provider
//! number, and the patient it is about. Pure: bytes in, answer out.
//!
//! - PIT: line 123 (`Addressee      :`) carries the provider number at
//!   columns 61–68; line 100 the patient's `SURNAME,Given` at column 27,
//!   line 104 the birth date at 38 and the sex at 67
//!   (../shared/reference/hl7-pit-formats.md).
//! - HL7 v2: the referred-to provider's PRD (PRD-1 `RP`) PRD-7, else PV1-9
//!   (the recipient doctor, as Genie routes on it); the patient from PID-5,
//!   PID-7 and PID-8.
//! - RTF and DOCX letters: the recipient found by the letter reader
//!   (a "Provider No" beside the addressee), and its patient.

use crate::compose::PatientInput;
use crate::convert::{self, InputKind};
use crate::date::Date;
use crate::extract::Context;
use crate::patient::Sex;

/// What kind of file, by its name's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadKind {
    Pit,
    Hl7,
    Rtf,
    Docx,
}

impl UploadKind {
    /// The kind of a file called `name`, if it is one that can be sent.
    pub fn of_name(name: &str) -> Option<UploadKind> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "pit" => UploadKind::Pit,
            "hl7" | "oru" | "ref" => UploadKind::Hl7,
            "rtf" => UploadKind::Rtf,
            "docx" => UploadKind::Docx,
            _ => return None,
        })
    }

    /// The MIME type it is sent as.
    pub fn content_type(self) -> &'static str {
        match self {
            UploadKind::Pit => "text/plain",
            UploadKind::Hl7 => "application/hl7-v2",
            UploadKind::Rtf => "application/rtf",
            UploadKind::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
        }
    }
}

/// Whom a file is for, and about whom.
#[derive(Clone, Debug, Default)]
pub struct Addressed {
    /// The addressee's provider number, checked and normalised.
    pub provider_number: String,
    /// The patient as the file gives them (checked later, by
    /// [`PatientInput::validate`]); empty fields where it gives none.
    pub patient: PatientInput,
}

/// The addressee and patient of an uploaded file, or why it cannot be
/// sent (in words for the practice: the file goes to the error folder with
/// this reason beside it).
pub fn read(kind: UploadKind, bytes: &[u8], today: Date) -> Result<Addressed, String> {
    match kind {
        UploadKind::Pit => pit(&text_of(bytes)?),
        UploadKind::Hl7 => hl7(&text_of(bytes)?),
        UploadKind::Rtf => letter(InputKind::Rtf, bytes, today),
        UploadKind::Docx => letter(InputKind::Docx, bytes, today),
    }
}

fn text_of(bytes: &[u8]) -> Result<String, String> {
    // PIT and HL7 files are 7-bit ASCII; other bytes (Windows-1252 names)
    // are read as Latin-1 rather than refused.
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    Ok(bytes.iter().map(|&b| b as char).collect())
}

fn checked_provider(raw: &str, where_: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(format!(
            "{where_} gives no provider number for the addressee"
        ));
    }
    athen_core::identifiers::provider_number(raw).map_err(|e| {
        format!(
            "{where_}: the addressee's provider number {raw:?} {}",
            e.reason
        )
    })
}

/// Columns `from..=to` (1-based) of a line, as PIT places values.
fn columns(line: &str, from: usize, to: usize) -> &str {
    let start = from - 1;
    if line.len() <= start || !line.is_char_boundary(start) {
        return "";
    }
    let end = to.min(line.len());
    if !line.is_char_boundary(end) {
        return "";
    }
    line[start..end].trim()
}

fn pit(text: &str) -> Result<Addressed, String> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let line = |code: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(code) && l.as_bytes().get(3) == Some(&b' '))
    };
    if !lines
        .iter()
        .any(|l| l.starts_with("001 ") || l.starts_with("100 "))
    {
        return Err("this is not a PIT file (no line 001 or 100)".into());
    }
    let addressee = line("123").ok_or("the PIT file has no addressee (line 123)")?;
    let provider_number = checked_provider(columns(addressee, 61, 68), "PIT line 123")?;
    let mut patient = PatientInput::default();
    if let Some(l) = line("100") {
        let name = columns(l, 27, 80);
        let (family, given) = name.split_once(',').unwrap_or((name, ""));
        patient.family_name = family.trim().to_string();
        patient.given_names = given.trim().to_string();
    }
    if let Some(l) = line("104") {
        patient.birth_date = columns(l, 38, 47).to_string();
        patient.sex = columns(l, 67, 67).to_string();
    }
    Ok(Addressed {
        provider_number,
        patient,
    })
}

fn hl7(text: &str) -> Result<Addressed, String> {
    let msg = crate::write::hl7::Parsed::parse(text)
        .map_err(|e| format!("this is not an HL7 message: {e}"))?;
    let first = |f: Option<String>| f.and_then(|v| v.split('^').next().map(str::to_string));
    let prd = msg
        .segments
        .iter()
        .find(|s| s[0] == "PRD" && s.get(1).is_some_and(|r| r.split('^').next() == Some("RP")))
        .and_then(|s| s.get(7).cloned())
        .map(|f| crate::write::hl7::unescape(&f));
    let (raw, where_) = match first(prd) {
        Some(p) if !p.is_empty() => (p, "HL7 PRD-7"),
        _ => (first(msg.field("PV1", 9)).unwrap_or_default(), "HL7 PV1-9"),
    };
    let provider_number = checked_provider(&raw, where_)?;
    let mut patient = PatientInput::default();
    if let Some(name) = msg.field("PID", 5) {
        let mut parts = name.split('~').next().unwrap_or("").split('^');
        patient.family_name = parts.next().unwrap_or("").trim().to_string();
        patient.given_names = parts.next().unwrap_or("").trim().to_string();
    }
    if let Some(dob) = msg.field("PID", 7) {
        let d = dob.get(..8).unwrap_or("");
        if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) {
            patient.birth_date = format!("{}/{}/{}", &d[6..8], &d[4..6], &d[..4]);
        }
    }
    if let Some(sex) = msg.field("PID", 8) {
        patient.sex = sex.trim().to_string();
    }
    Ok(Addressed {
        provider_number,
        patient,
    })
}

fn letter(kind: InputKind, bytes: &[u8], today: Date) -> Result<Addressed, String> {
    let ctx = Context {
        today,
        author: None,
        recipient: None,
        sent: None,
    };
    let c = convert::convert(kind, bytes, &ctx);
    let raw = c
        .extraction
        .recipient
        .as_ref()
        .and_then(|r| r.value.provider_number.clone())
        .or_else(|| labelled_recipient(&c.body.lines()))
        .ok_or(
            "the letter names no addressee's provider number (a \"Provider No:\" line in the address block above \"Dear\", or \"Recipient provider number:\")",
        )?;
    let provider_number = checked_provider(&raw, "the letter")?;
    let p = &c.extraction.patient;
    let text = |f: &Option<crate::patient::Found<String>>| {
        f.as_ref().map(|f| f.value.clone()).unwrap_or_default()
    };
    let patient = PatientInput {
        family_name: text(&p.family_name),
        given_names: text(&p.given_names),
        sex: match p.sex.as_ref().map(|s| s.value) {
            Some(Sex::Male) => "M".into(),
            Some(Sex::Female) => "F".into(),
            Some(Sex::Other) => "O".into(),
            _ => String::new(),
        },
        birth_date: p
            .birth_date
            .as_ref()
            .map(|d| d.value.to_string())
            .unwrap_or_default(),
        ..PatientInput::default()
    };
    Ok(Addressed {
        provider_number,
        patient,
    })
}

/// The addressee's provider number as a letter labels it: a
/// `Recipient provider number:` (or `Recipient Provider No:`) line
/// anywhere, else a `Provider No:` line in the address block, before the
/// salutation or the `Re:` line (one after it is the author's, under the
/// signature).
fn labelled_recipient(lines: &[String]) -> Option<String> {
    let value = |line: &str, labels: &[&str]| {
        let (label, v) = line.split_once(':')?;
        let label = label.trim().to_ascii_lowercase();
        labels
            .iter()
            .any(|l| label == *l)
            .then(|| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    const RECIPIENT: &[&str] = &[
        "recipient provider number",
        "recipient provider no",
        "recipient provider no.",
        "addressee provider number",
    ];
    const PROVIDER: &[&str] = &["provider no", "provider no.", "provider number"];
    if let Some(v) = lines.iter().find_map(|l| value(l, RECIPIENT)) {
        return Some(v);
    }
    lines
        .iter()
        .take_while(|l| {
            let low = l.trim_start().to_ascii_lowercase();
            !(low.starts_with("dear ") || low.starts_with("re:") || low.starts_with("re "))
        })
        .find_map(|l| value(l, PROVIDER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A PIT line: code, space, then `label` padded to 22 and the value
    /// from column 27 (labels of 15 characters and a colon).
    fn pit_line(code: &str, rest: &str) -> String {
        format!("{code} {rest}\r\n")
    }

    fn addressee(name: &str, provider: &str) -> String {
        // Name at 27–48, provider number at 61–68.
        let mut l = format!("123 {:<22}{:<34}", "Addressee      :", name);
        l.truncate(60);
        format!("{l:<60}{provider}\r\n")
    }

    fn pit_file(provider: &str) -> String {
        let mut s = pit_line(
            "001",
            "Northside Medical                                            07 01/07/1996",
        );
        s += &pit_line("100", "Start Patient  :      CITIZEN,John");
        s += &format!("{:<37}{:<29}M\r\n", "104 Birthdate      :", "01/02/1960");
        s += &addressee("Dr Jane Citizen", provider);
        s += &pit_line("301", "Dear Jane,");
        s += "999\r\n";
        s
    }

    #[test]
    fn a_pit_file_is_addressed_by_its_line_123() {
        let a = read(
            UploadKind::Pit,
            pit_file("2426621B").as_bytes(),
            Date::new(2026, 12, 1).unwrap(),
        )
        .unwrap();
        assert_eq!(a.provider_number, "2426621B");
        assert_eq!(a.patient.family_name, "CITIZEN");
        assert_eq!(a.patient.given_names, "John");
        assert_eq!(a.patient.birth_date, "01/02/1960");
        assert_eq!(a.patient.sex, "M");
        let bad = read(
            UploadKind::Pit,
            pit_file("2426621C").as_bytes(),
            Date::new(2026, 12, 1).unwrap(),
        )
        .unwrap_err();
        assert!(bad.contains("PIT line 123"), "{bad}");
        let none = pit_file("2426621B").replace("123 ", "122 ");
        assert!(
            read(
                UploadKind::Pit,
                none.as_bytes(),
                Date::new(2026, 12, 1).unwrap()
            )
            .unwrap_err()
            .contains("no addressee")
        );
        assert!(
            read(UploadKind::Pit, b"hello", Date::new(2026, 12, 1).unwrap())
                .unwrap_err()
                .contains("not a PIT file")
        );
    }

    #[test]
    fn an_hl7_file_is_addressed_by_prd_or_pv1() {
        let today = Date::new(2026, 12, 1).unwrap();
        let msh = "MSH|^~\\&|ATHEN|Northside||Jane|20261201||REF^I12^REF_I12|1|P|2.4\r";
        let pid = "PID|1||000001^^^ATHEN^MR||CITIZEN^John||19600201|M\r";
        let prd = format!("{msh}PRD|RP|Citizen^Jane^^^Dr^^L|||||2426621B^AUSHICPR^UPIN\r{pid}");
        let a = read(UploadKind::Hl7, prd.as_bytes(), today).unwrap();
        assert_eq!(a.provider_number, "2426621B");
        assert_eq!(
            (
                a.patient.family_name.as_str(),
                a.patient.given_names.as_str(),
                a.patient.birth_date.as_str(),
                a.patient.sex.as_str()
            ),
            ("CITIZEN", "John", "01/02/1960", "M")
        );
        let pv1 = format!("{msh}{pid}PV1|1|O|||||||2426621B^Citizen^Jane^^^Dr^^^AUSHICPR\r");
        assert_eq!(
            read(UploadKind::Hl7, pv1.as_bytes(), today)
                .unwrap()
                .provider_number,
            "2426621B"
        );
        let neither = format!("{msh}{pid}");
        assert!(
            read(UploadKind::Hl7, neither.as_bytes(), today)
                .unwrap_err()
                .contains("PV1-9")
        );
        assert!(
            read(UploadKind::Hl7, b"PID|1", today)
                .unwrap_err()
                .contains("not an HL7")
        );
    }

    #[test]
    fn a_letter_is_addressed_by_the_provider_number_above_its_salutation() {
        let lines = |t: &str| t.lines().map(str::to_string).collect::<Vec<_>>();
        let letter = "Northside Medical\n\nDr Priya Sharma\nProvider No: 2426621B\n\nRe: John CITIZEN\n\nDear Priya,\n\nYours,\nDr Peter Smith\nProvider No: 0302523B";
        assert_eq!(
            labelled_recipient(&lines(letter)).as_deref(),
            Some("2426621B")
        );
        let signed_only = "Dear Priya,\n\nYours,\nDr Peter Smith\nProvider No: 0302523B";
        assert_eq!(labelled_recipient(&lines(signed_only)), None);
        let labelled = "Dear Priya,\nRecipient provider number: 2426621B\nProvider No: 0302523B";
        assert_eq!(
            labelled_recipient(&lines(labelled)).as_deref(),
            Some("2426621B")
        );
    }

    #[test]
    fn kinds_come_from_the_name() {
        assert_eq!(UploadKind::of_name("A.PIT"), Some(UploadKind::Pit));
        assert_eq!(UploadKind::of_name("a.hl7"), Some(UploadKind::Hl7));
        assert_eq!(UploadKind::of_name("letter.docx"), Some(UploadKind::Docx));
        assert_eq!(UploadKind::of_name("letter.RTF"), Some(UploadKind::Rtf));
        assert_eq!(UploadKind::of_name("notes.txt"), None);
        assert_eq!(UploadKind::of_name("PIT"), None);
    }

    proptest! {
        #[test]
        fn any_bytes_get_an_answer_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), kind in 0..4u8) {
            let kind = [UploadKind::Pit, UploadKind::Hl7, UploadKind::Rtf, UploadKind::Docx][kind as usize];
            let _ = read(kind, &bytes, Date::new(2026, 12, 1).unwrap());
        }

        #[test]
        fn any_pit_addressee_line_is_read_safely(line in "123 \\PC{0,90}") {
            let file = format!("001 x\r\n{line}\r\n");
            let _ = read(UploadKind::Pit, file.as_bytes(), Date::new(2026, 12, 1).unwrap());
        }
    }
}
