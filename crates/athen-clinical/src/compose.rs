//! What ATHEN's compose form writes about the patient of a letter, so the
//! receiving practice's system files it under the right patient: the
//! structured `X-Athen-Patient` header (trusted first) and the same details
//! in the ATHEN subject syntax (read by people and by ATHEN servers that
//! lose the header), `[SURNAME, Given (S) DOB:dd/mm/yyyy Street, Suburb NNNN]`
//! (athen-original.md, "Subject-line patient metadata"). Both are read
//! back by [`crate::extract`]; the tests check that they are.

use crate::date::Date;
use crate::patient::Sex;
use athen_core::Invalid;
use athen_core::identifiers::{self, State};

/// The patient fields as typed into the form.
#[derive(Clone, Debug, Default)]
pub struct PatientInput {
    pub family_name: String,
    pub given_names: String,
    pub sex: String,
    pub birth_date: String,
    pub street: String,
    pub suburb: String,
    pub state: String,
    pub postcode: String,
    pub medicare: String,
}

/// Checked patient details, ready to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientDetails {
    pub family_name: String,
    pub given_names: String,
    pub sex: Sex,
    pub birth_date: Date,
    pub street: Option<String>,
    pub suburb: Option<String>,
    pub state: Option<State>,
    pub postcode: Option<String>,
    /// Ten or eleven digits (with the IRN), no spaces.
    pub medicare: Option<String>,
}

fn given(s: &str) -> Option<String> {
    let t = s.split_whitespace().collect::<Vec<_>>().join(" ");
    (!t.is_empty()).then_some(t)
}

/// A name or address part that the subject syntax can carry: no brackets
/// (they end the block), no control characters, not too long.
fn plain(field: &'static str, v: &str, max: usize, errors: &mut Vec<Invalid>) -> Option<String> {
    let v = given(v)?;
    if v.chars().count() > max {
        errors.push(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        ));
        return None;
    }
    if v.chars()
        .any(|c| c.is_control() || matches!(c, '[' | ']' | '"' | '\\' | ';'))
    {
        errors.push(Invalid::new(field, "must not contain [ ] \" \\ or ;"));
        return None;
    }
    Some(v)
}

impl PatientInput {
    /// Whether anything was typed at all (a letter need not be about a
    /// patient).
    pub fn is_empty(&self) -> bool {
        [
            &self.family_name,
            &self.given_names,
            &self.birth_date,
            &self.street,
            &self.suburb,
            &self.postcode,
            &self.medicare,
        ]
        .iter()
        .all(|s| s.trim().is_empty())
    }

    /// Checks every field; `today` bounds the date of birth. Lists every
    /// problem, so the form can show them all at once.
    pub fn validate(&self, today: Date) -> Result<PatientDetails, Vec<Invalid>> {
        let mut e = Vec::new();
        let family = plain("Family name", &self.family_name, 100, &mut e);
        let given_names = plain("Given names", &self.given_names, 100, &mut e);
        if family.is_none() && !e.iter().any(|i| i.field == "Family name") {
            e.push(Invalid::new("Family name", "is needed"));
        }
        if given_names.is_none() && !e.iter().any(|i| i.field == "Given names") {
            e.push(Invalid::new("Given names", "are needed"));
        }
        let sex = match self.sex.trim() {
            "" => Some(Sex::Unknown),
            s => Sex::parse(s).or_else(|| {
                e.push(Invalid::new("Sex", "must be M, F, O or U"));
                None
            }),
        };
        let birth_date = match self.birth_date.trim() {
            "" => {
                e.push(Invalid::new("Date of birth", "is needed (dd/mm/yyyy)"));
                None
            }
            t => match Date::parse(t, today.year) {
                Ok(d) if d > today => {
                    e.push(Invalid::new("Date of birth", "is in the future"));
                    None
                }
                // The reader's bound too (extract.rs), so what is sent reads back.
                Ok(d) if d.years_until(today) > 125 => {
                    e.push(Invalid::new("Date of birth", "is more than 125 years ago"));
                    None
                }
                Ok(d) => Some(d),
                Err(reason) => {
                    e.push(Invalid::new(
                        "Date of birth",
                        format!("is not a date: {reason}"),
                    ));
                    None
                }
            },
        };
        let street = plain("Street", &self.street, 100, &mut e);
        if street.as_deref().is_some_and(|s| s.contains(',')) {
            e.push(Invalid::new(
                "Street",
                "must not contain a comma (the suburb has its own field)",
            ));
        }
        let suburb = plain("Suburb", &self.suburb, 60, &mut e);
        let state = match self.state.trim() {
            "" => None,
            s => s.parse::<State>().map_err(|i| e.push(i)).ok(),
        };
        let postcode = match (given(&self.postcode), state) {
            (None, _) => None,
            (Some(p), Some(st)) => identifiers::postcode_in_state(&p, st)
                .map_err(|i| e.push(i))
                .ok(),
            (Some(p), None) => identifiers::postcode(&p).map_err(|i| e.push(i)).ok(),
        };
        let medicare = given(&self.medicare)
            .and_then(|m| identifiers::medicare_number(&m).map_err(|i| e.push(i)).ok());
        match (family, given_names, sex, birth_date) {
            (Some(family_name), Some(given_names), Some(sex), Some(birth_date)) if e.is_empty() => {
                Ok(PatientDetails {
                    family_name,
                    given_names,
                    sex,
                    birth_date,
                    street,
                    suburb,
                    state,
                    postcode,
                    medicare,
                })
            }
            _ => Err(e),
        }
    }
}

impl PatientDetails {
    /// `[SURNAME, Given (S) DOB:dd/mm/yyyy Street, Suburb NNNN] subject`.
    pub fn subject(&self, subject: &str) -> String {
        let d = self.birth_date;
        let mut block = format!(
            "[{}, {} ({}) DOB:{:02}/{:02}/{:04}",
            self.family_name.to_uppercase(),
            self.given_names,
            self.sex.code(),
            d.day,
            d.month,
            d.year
        );
        let place: Vec<String> = [
            self.street.clone(),
            [self.suburb.clone(), self.postcode.clone()]
                .into_iter()
                .flatten()
                .reduce(|a, b| format!("{a} {b}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !place.is_empty() {
            block.push(' ');
            block.push_str(&place.join(", "));
        }
        block.push(']');
        match subject.trim() {
            "" => block,
            s => format!("{block} {s}"),
        }
    }

    /// The value of the `X-Athen-Patient` header: `key="value"` pairs,
    /// each on its own folded line (RFC 5322 §2.2.3). A value with letters
    /// beyond ASCII is written the MIME parameter way, `key*=utf-8''M%C3%BCller`
    /// (RFC 2231 §4), so the header stays ASCII for every server on the way.
    pub fn header(&self) -> String {
        let mut out = vec![
            parameter("family", &self.family_name),
            parameter("given", &self.given_names),
            format!("sex={}", self.sex.code()),
            format!("dob={}", self.birth_date.iso()),
        ];
        let state = self.state.map(|s| s.code().to_string());
        // The card number and the person's reference number (IRN) apart,
        // as the reader takes them.
        let card: Option<String> = self.medicare.as_ref().map(|m| m.chars().take(10).collect());
        let irn: Option<String> = self
            .medicare
            .as_ref()
            .and_then(|m| m.get(10..11))
            .map(String::from);
        for (k, v) in [
            ("street", &self.street),
            ("suburb", &self.suburb),
            ("state", &state),
            ("postcode", &self.postcode),
            ("medicare", &card),
            ("irn", &irn),
        ] {
            if let Some(v) = v {
                out.push(parameter(k, v));
            }
        }
        out.join(";\r\n\t")
    }
}

/// One MIME-style parameter, `key="value"`, or when the value has letters
/// beyond ASCII, a quote, a backslash or a control character, the RFC 2231
/// §4 way, `key*=utf-8''M%C3%BCller`, so any value round-trips through
/// [`crate::extract::parameters`] and the header stays ASCII.
pub fn parameter(key: &str, value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\');
    if plain {
        return format!("{key}=\"{value}\"");
    }
    let encoded: String = value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{key}*=utf-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Body;
    use crate::extract::{Context, extract};
    use proptest::prelude::*;

    fn today() -> Date {
        Date::new(2026, 12, 1).unwrap()
    }

    fn ctx() -> Context {
        Context {
            today: today(),
            author: None,
            recipient: None,
            sent: None,
        }
    }

    fn input() -> PatientInput {
        PatientInput {
            family_name: "O'Brien".into(),
            given_names: "Mary  Anne".into(),
            sex: "F".into(),
            birth_date: "1/2/1960".into(),
            street: "12 Main St".into(),
            suburb: "Northside".into(),
            state: "NSW".into(),
            postcode: "2000".into(),
            medicare: "2123 45670 1 2".into(),
        }
    }

    #[test]
    fn writes_the_subject_syntax_and_the_header() {
        let p = input().validate(today()).unwrap();
        assert_eq!(
            p.subject("Referral"),
            "[O'BRIEN, Mary Anne (F) DOB:01/02/1960 12 Main St, Northside 2000] Referral"
        );
        assert_eq!(
            p.header(),
            "family=\"O'Brien\";\r\n\tgiven=\"Mary Anne\";\r\n\tsex=F;\r\n\tdob=1960-02-01;\r\n\tstreet=\"12 Main St\";\r\n\t\
suburb=\"Northside\";\r\n\tstate=\"NSW\";\r\n\tpostcode=\"2000\";\r\n\tmedicare=\"2123456701\";\r\n\tirn=\"2\""
        );
        let accented = PatientInput {
            family_name: "Müller".into(),
            given_names: "Thị Hồng".into(),
            ..input()
        }
        .validate(today())
        .unwrap();
        assert!(accented.header().starts_with(
            "family*=utf-8''M%C3%BCller;\r\n\tgiven*=utf-8''Th%E1%BB%8B%20H%E1%BB%93ng;"
        ));
        assert!(accented.header().is_ascii());
        read_back(&accented);
    }

    #[test]
    fn every_problem_is_listed() {
        let bad = PatientInput {
            family_name: "Smith [x]".into(),
            given_names: "".into(),
            sex: "Q".into(),
            birth_date: "31/02/1960".into(),
            state: "NSW".into(),
            postcode: "3000".into(),
            medicare: "1234".into(),
            street: "1 Main St, Level 2".into(),
            ..PatientInput::default()
        };
        let fields: Vec<&str> = bad
            .validate(today())
            .unwrap_err()
            .iter()
            .map(|i| i.field)
            .collect();
        for f in [
            "Family name",
            "Given names",
            "Sex",
            "Date of birth",
            "Street",
            "Postcode",
            "Medicare number",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        let future = PatientInput {
            birth_date: "2/12/2026".into(),
            ..input()
        };
        assert!(future.validate(today()).is_err());
    }

    /// Reads `p` back as a receiving ATHEN would: from the header alone,
    /// and from the subject alone.
    fn read_back(p: &PatientDetails) {
        let body = Body::default();
        for (header, subject) in [(Some(p.header()), None), (None, Some(p.subject("Letter")))] {
            let x = extract(header.as_deref(), subject.as_deref(), &body, &ctx());
            let got = &x.patient;
            assert_eq!(
                got.family_name.as_ref().map(|f| f.value.to_uppercase()),
                Some(p.family_name.to_uppercase()),
                "{header:?} {subject:?} {x:?}"
            );
            assert_eq!(
                got.given_names.as_ref().map(|f| f.value.clone()),
                Some(p.given_names.clone())
            );
            assert_eq!(got.birth_date.as_ref().map(|f| f.value), Some(p.birth_date));
            assert_eq!(got.sex.as_ref().map(|f| f.value), Some(p.sex));
            if header.is_some() {
                assert_eq!(
                    got.medicare
                        .as_ref()
                        .map(|m| (m.value.number.clone(), m.value.irn)),
                    p.medicare.as_ref().map(|m| (
                        m[..10].to_string(),
                        m.get(10..).and_then(|i| i.parse().ok())
                    ))
                );
            }
        }
    }

    #[test]
    fn what_is_written_reads_back() {
        read_back(&input().validate(today()).unwrap());
    }

    proptest! {
        /// Whatever was typed (quotes, semicolons, umlauts, line breaks)
        /// comes back the same from the header it was written into.
        #[test]
        fn any_value_survives_a_parameter_list(a in "\\PC{0,60}", b in ".{0,60}") {
            let header = [parameter("first", &a), parameter("second", &b)].join(";\r\n\t");
            prop_assert!(header.is_ascii());
            let back = crate::extract::parameters(&header);
            prop_assert_eq!(back, vec![("first".to_string(), a), ("second".to_string(), b)]);
        }

        /// A header from the network, whatever it holds, is read without
        /// a panic (drafts and X-Athen-Patient come in mail).
        #[test]
        fn any_parameter_header_is_read_without_panic(h in "\\PC{0,200}", raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = crate::extract::parameters(&h);
            let _ = crate::extract::parameters(&String::from_utf8_lossy(&raw));
        }

        #[test]
        fn any_valid_patient_reads_back(
            family in "[A-Z][a-z]{1,12}(-[A-Z][a-z]{1,8})?",
            given in "[A-Z][a-z]{1,10}( [A-Z][a-z]{1,10})?",
            sex in prop::sample::select(vec!["M", "F", "O", "U"]),
            day in 1u8..=28, month in 1u8..=12, year in 1902u16..=2025,
        ) {
            // A given name that is a title ("Dr Qwhff") is read as the
            // title, as the reader must for "Dr Jane Citizen".
            prop_assume!(!given.split(' ').any(|w| crate::extract::TITLES
                .iter()
                .any(|t| t.eq_ignore_ascii_case(w))));
            let p = PatientInput {
                family_name: family,
                given_names: given,
                sex: sex.into(),
                birth_date: format!("{day}/{month}/{year}"),
                ..PatientInput::default()
            };
            read_back(&p.validate(today()).unwrap());
        }

        #[test]
        fn arbitrary_input_never_panics(
            family in "\\PC{0,40}", given in "\\PC{0,40}", dob in "\\PC{0,20}",
            postcode in "\\PC{0,6}", medicare in "\\PC{0,14}",
        ) {
            let _ = PatientInput {
                family_name: family,
                given_names: given,
                birth_date: dob,
                postcode,
                medicare,
                ..PatientInput::default()
            }
            .validate(today());
        }
    }
}
