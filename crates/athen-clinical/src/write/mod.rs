//! Writers: a read letter and what was found in it, to an import file a
//! clinical system takes in (PIT, HL7 v2). Each either returns the file or
//! says "not possible, because …"; the caller then delivers the mail as it
//! is and records the reason.

#[cfg(test)]
mod forgery_tests;
pub mod hl7;
pub mod pdf;
pub mod pit;
pub mod rtf;
pub mod shape;

use crate::date::Date;
use crate::document::Body;
use crate::extract::Extraction;

/// A moment with its zone, as HL7 (`202611241015+1100`) and PIT
/// (`24/11/2026 10:15:00`) write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Minutes east of UTC (+600 for AEST, +660 for AEDT).
    pub offset_minutes: i16,
}

impl Stamp {
    /// A Unix time seen in a zone `offset_minutes` east of UTC.
    pub fn from_unix(secs: i64, offset_minutes: i16) -> Stamp {
        let local = secs + i64::from(offset_minutes) * 60;
        let day = local.rem_euclid(86_400);
        Stamp {
            date: Date::from_unix(local),
            hour: (day / 3600) as u8,
            minute: (day % 3600 / 60) as u8,
            second: (day % 60) as u8,
            offset_minutes,
        }
    }

    /// `hh:mm:ss`.
    pub fn time(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }
}

/// What every writer needs besides the letter.
#[derive(Clone, Debug)]
pub struct Job {
    /// When the file is made.
    pub now: Stamp,
    /// The run (file) number, 1–9999 in PIT; per sender, from the audit
    /// trail's counters.
    pub run_number: u32,
    /// Up to three letters naming the sender, for 8.3 file names.
    pub sender_initials: String,
    /// A reference unique to this message copy (HL7 MSH-10, PIT 111).
    pub control_id: String,
    /// The patient's number in the receiving mailbox's patient register
    /// (HL7 PID-3, type MR): the same for every letter about the patient.
    pub local_patient_id: Option<String>,
}

/// A letter as read, and what was found in it.
#[derive(Clone, Copy, Debug)]
pub struct Letter<'a> {
    pub extraction: &'a Extraction,
    pub body: &'a Body,
    /// The PDF the letter came as, if it came as one: HL7 then carries it
    /// as the PDF display instead of one laid out from `body`.
    pub original_pdf: Option<&'a [u8]>,
}

/// An import file ready to attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub file_name: String,
    pub mime_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Text for formats that take 7-bit ASCII only: letters with accents lose
/// them (Müller → Muller, Nguyễn → Nguyen), typographic quotes and dashes
/// become their plain forms, control characters are dropped.
pub fn ascii(text: &str) -> String {
    deunicode::deunicode(text)
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect()
}

/// Three capital letters from the sender's name or address, padded with X.
pub fn initials(name: &str) -> String {
    let mut s: String = ascii(name)
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter_map(|w| w.chars().next())
        .map(|c| c.to_ascii_uppercase())
        .take(3)
        .collect();
    while s.len() < 3 {
        s.push('X');
    }
    s
}

/// One delivery format a mailbox can ask for (whitepaper step 15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Pit,
    PitRtf,
    Hl7Oru(hl7::Profile),
    Hl7Ref(hl7::Profile),
}

impl Format {
    /// `pit`, `pit-rtf`, `hl7-oru`, `hl7-ref`, the HL7 ones optionally with
    /// `:as4700` or `:adrm2021` (the default).
    pub fn parse(s: &str) -> Result<Format, String> {
        let s = s.trim().to_ascii_lowercase();
        let (name, profile) = s.split_once(':').unwrap_or((&s, "adrm2021"));
        let profile = match profile {
            "adrm2021" => hl7::Profile::Adrm2021,
            "as4700" => hl7::Profile::As4700,
            other => {
                return Err(format!(
                    "unknown HL7 profile {other:?} (adrm2021 or as4700)"
                ));
            }
        };
        match name {
            "pit" => Ok(Format::Pit),
            "pit-rtf" => Ok(Format::PitRtf),
            "hl7-oru" => Ok(Format::Hl7Oru(profile)),
            "hl7-ref" => Ok(Format::Hl7Ref(profile)),
            other => Err(format!(
                "unknown delivery format {other:?} (pit, pit-rtf, hl7-oru, hl7-ref)"
            )),
        }
    }

    pub fn name(self) -> String {
        let p = |p: hl7::Profile| match p {
            hl7::Profile::Adrm2021 => "adrm2021",
            hl7::Profile::As4700 => "as4700",
        };
        match self {
            Format::Pit => "pit".into(),
            Format::PitRtf => "pit-rtf".into(),
            Format::Hl7Oru(pr) => format!("hl7-oru:{}", p(pr)),
            Format::Hl7Ref(pr) => format!("hl7-ref:{}", p(pr)),
        }
    }

    /// Writes this format.
    pub fn write(
        self,
        letter: Letter<'_>,
        job: &Job,
        endpoints: &hl7::Endpoints,
        pdf: bool,
    ) -> Result<Output, String> {
        match self {
            Format::Pit => pit::write(letter, job, false),
            Format::PitRtf => pit::write(letter, job, true),
            Format::Hl7Oru(p) => hl7::write(letter, job, hl7::Kind::Oru, p, endpoints, pdf),
            Format::Hl7Ref(p) => hl7::write(letter, job, hl7::Kind::Ref, p, endpoints, pdf),
        }
    }
}

/// The first of a mailbox's ordered formats that can be made, with the
/// reasons the ones before it could not; `Err` with every reason when none
/// can, and the mail then goes unchanged.
#[allow(clippy::type_complexity)]
pub fn first_that_works(
    formats: &[Format],
    letter: Letter<'_>,
    job: &Job,
    endpoints: &hl7::Endpoints,
    pdf: bool,
) -> Result<(Format, Output, Vec<(Format, String)>), Vec<(Format, String)>> {
    let mut refused = Vec::new();
    for &f in formats {
        match f.write(letter, job, endpoints, pdf) {
            Ok(out) => return Ok((f, out, refused)),
            Err(why) => refused.push((f, why)),
        }
    }
    Err(refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{Context, extract};
    use crate::read::text;

    #[test]
    fn the_first_format_that_works_is_used() {
        assert_eq!(
            Format::parse("HL7-REF:as4700"),
            Ok(Format::Hl7Ref(hl7::Profile::As4700))
        );
        assert_eq!(
            Format::parse("hl7-oru"),
            Ok(Format::Hl7Oru(hl7::Profile::Adrm2021))
        );
        assert!(Format::parse("docx").is_err());
        assert!(Format::parse("hl7-oru:v3").is_err());
        let body = text::read("Dear Dr Jones,\n\nRe: SMITH, Jane\nDOB: 01/02/1960\n");
        let ctx = Context {
            today: Date::new(2026, 11, 24).unwrap(),
            author: None,
            recipient: None,
            sent: None,
        };
        let x = extract(None, None, &body, &ctx);
        let letter = Letter {
            extraction: &x,
            body: &body,
            original_pdf: None,
        };
        let job = Job {
            now: Stamp::from_unix(1_795_500_000, 600),
            run_number: 7,
            sender_initials: "ABC".into(),
            control_id: "X1".into(),
            local_patient_id: None,
        };
        let e = hl7::Endpoints::default();
        // REF needs the recipient's provider number, which "Dear Dr Jones" lacks.
        let formats = [Format::Hl7Ref(hl7::Profile::Adrm2021), Format::Pit];
        let (used, out, refused) = first_that_works(&formats, letter, &job, &e, false).unwrap();
        assert_eq!(used, Format::Pit);
        assert_eq!(out.file_name, "ABC00007.PIT");
        assert_eq!(refused.len(), 1);
        assert!(refused[0].1.contains("provider number"));
        let mut none = x.clone();
        none.not_possible = Some("not possible, because test".into());
        let letter = Letter {
            extraction: &none,
            body: &body,
            original_pdf: None,
        };
        let all = first_that_works(&formats, letter, &job, &e, false).unwrap_err();
        assert_eq!(all.len(), 2);
    }
}
