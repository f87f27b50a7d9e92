//! Writers: a read letter and what was found in it, to an import file a
//! clinical system takes in (PIT, HL7 v2). Each either returns the file or
//! says "not possible, because …"; the caller then delivers the mail as it
//! is and records the reason.

pub mod hl7;
pub mod pdf;
pub mod pit;
pub mod rtf;

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
}

/// A letter as read, and what was found in it.
#[derive(Clone, Copy, Debug)]
pub struct Letter<'a> {
    pub extraction: &'a Extraction,
    pub body: &'a Body,
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
