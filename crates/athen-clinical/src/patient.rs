//! What a letter says about its patient, where each detail was found, how
//! far it can be trusted, and what failed its check.

use crate::date::Date;
pub use athen_core::identifiers::State;
use serde::Serialize;

/// Where a detail was found, in order of trust.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The `X-Athen-Patient` header written by ATHEN's compose form.
    PatientHeader,
    /// The ATHEN subject syntax `[SURNAME, Given (S) DOB:…] subject`.
    Subject,
    /// A labelled line of the letter ("DOB: 01/02/1960"), 1-based.
    Letter { line: usize, label: String },
    /// The directory entry the caller passed in.
    Directory,
    /// The message's `Date:` header.
    DateHeader,
}

impl Source {
    /// How sure a value from here is.
    pub fn confidence(&self) -> Confidence {
        match self {
            Source::PatientHeader | Source::Directory => Confidence::Certain,
            Source::Subject | Source::DateHeader => Confidence::High,
            Source::Letter { .. } => Confidence::Medium,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Read from a labelled line of free text.
    Medium,
    /// Read from a fixed syntax a person typed.
    High,
    /// Structured data written by a program.
    Certain,
}

/// A value, where it was found and how sure it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found<T> {
    pub value: T,
    pub source: Source,
    pub confidence: Confidence,
}

impl<T> Found<T> {
    pub fn new(value: T, source: Source) -> Self {
        let confidence = source.confidence();
        Self {
            value,
            source,
            confidence,
        }
    }
}

/// Administrative sex as HL7 table 0001 and PIT carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Sex {
    #[serde(rename = "M")]
    Male,
    #[serde(rename = "F")]
    Female,
    /// Other / indeterminate.
    #[serde(rename = "O")]
    Other,
    #[serde(rename = "U")]
    Unknown,
}

impl Sex {
    /// `M`, `F`, `O`, `U` (and the original's `A`), or the words.
    pub fn parse(s: &str) -> Option<Sex> {
        match s.trim().to_ascii_lowercase().as_str() {
            "m" | "male" | "man" => Some(Sex::Male),
            "f" | "female" | "woman" => Some(Sex::Female),
            "o" | "a" | "other" | "x" | "indeterminate" | "intersex" => Some(Sex::Other),
            "u" | "unknown" | "not stated" => Some(Sex::Unknown),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
            Sex::Other => "O",
            Sex::Unknown => "U",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suburb: Option<String>,
    /// NSW, VIC, QLD, SA, WA, TAS, NT or ACT: only ever one of these.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Medicare {
    /// The 10 digits of the card number.
    pub number: String,
    /// The individual reference number (1–9), the person's line on the card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub irn: Option<u8>,
}

/// Everything found about the patient; absent fields were not found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Patient {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<Found<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_names: Option<Found<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<Found<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<Found<Sex>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<Found<Date>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Found<Address>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medicare: Option<Found<Medicare>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dva: Option<Found<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ihi: Option<Found<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<Found<String>>,
}

/// A detail that was found but failed its check: reported, never used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The field, e.g. `patient.medicare`.
    pub field: String,
    /// What the letter said.
    pub found: String,
    pub source: Source,
    /// Why it was not used, in plain words.
    pub reason: String,
}

/// A provider: the letter's author or its recipient.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Party {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_names: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Medicare provider number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Party {
    /// "Dr Anna Müller", as much as is known.
    pub fn display_name(&self) -> String {
        [&self.title, &self.given_names, &self.family_name]
            .iter()
            .filter_map(|p| p.as_deref())
            .collect::<Vec<_>>()
            .join(" ")
    }
}
