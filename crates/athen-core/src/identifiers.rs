//! Checks for the identifiers and contact details that Australian providers
//! type into ATHEN. Each check either returns the value in its canonical form
//! or says, in plain words, what is wrong with it. Rules are from
//! `shared/reference/hl7-pit-formats.md` ("Australian identifiers").

use crate::error::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Removes the spaces and hyphens people put in numbers for readability.
fn compact(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

/// A Medicare card number: 10 digits, or 11 with the individual reference
/// number (IRN). Digit 9 is a check digit, digit 10 the card issue number.
pub fn medicare_number(input: &str) -> Result<String, Invalid> {
    const FIELD: &str = "Medicare number";
    let s = compact(input);
    if !s.chars().all(|c| c.is_ascii_digit()) {
        return Err(Invalid::new(FIELD, "must contain only digits"));
    }
    if s.len() != 10 && s.len() != 11 {
        return Err(Invalid::new(
            FIELD,
            format!(
                "must be 10 digits, or 11 with the reference number (got {})",
                s.len()
            ),
        ));
    }
    let d: Vec<u32> = s.bytes().map(|b| u32::from(b - b'0')).collect();
    if !(2..=6).contains(&d[0]) {
        return Err(Invalid::new(FIELD, "must start with a digit from 2 to 6"));
    }
    const WEIGHTS: [u32; 8] = [1, 3, 7, 9, 1, 3, 7, 9];
    let sum: u32 = d[..8].iter().zip(WEIGHTS).map(|(a, w)| a * w).sum();
    if sum % 10 != d[8] {
        return Err(Invalid::new(FIELD, "check digit is wrong"));
    }
    if d[9] == 0 {
        return Err(Invalid::new(FIELD, "issue number (10th digit) cannot be 0"));
    }
    if s.len() == 11 && d[10] == 0 {
        return Err(Invalid::new(
            FIELD,
            "reference number (11th digit) must be from 1 to 9",
        ));
    }
    Ok(s)
}

/// Characters allowed for the location of a Medicare provider number, in the
/// order that gives their value (no I, O, S or Z).
const PROVIDER_LOCATION: &str = "0123456789ABCDEFGHJKLMNPQRTUVWXY";
const PROVIDER_CHECK: &[u8; 11] = b"YXWTLKJHFBA";

/// A Medicare provider number: a 5–6 digit stem, a location character and a
/// check character. Returned upper case with the stem padded to 6 digits.
pub fn provider_number(input: &str) -> Result<String, Invalid> {
    const FIELD: &str = "Provider number";
    let s = compact(input).to_ascii_uppercase();
    if !(7..=8).contains(&s.len()) || !s.is_ascii() {
        return Err(Invalid::new(
            FIELD,
            "must be 5 or 6 digits followed by a location character and a check letter, e.g. 2426621B",
        ));
    }
    let (stem, tail) = s.split_at(s.len() - 2);
    if !stem.chars().all(|c| c.is_ascii_digit()) {
        return Err(Invalid::new(
            FIELD,
            "the first 5 or 6 characters must be digits",
        ));
    }
    let stem = format!("{stem:0>6}");
    let mut tail = tail.chars();
    let (loc, check) = match (tail.next(), tail.next()) {
        (Some(l), Some(c)) => (l, c),
        _ => return Err(Invalid::new(FIELD, "is too short")),
    };
    let Some(loc_value) = PROVIDER_LOCATION.find(loc) else {
        return Err(Invalid::new(
            FIELD,
            format!("location character '{loc}' is not allowed (I, O, S and Z are never used)"),
        ));
    };
    const WEIGHTS: [usize; 6] = [3, 5, 8, 4, 2, 1];
    let sum: usize = stem
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| usize::from(b - b'0') * w)
        .sum::<usize>()
        + loc_value * 6;
    let expected = char::from(PROVIDER_CHECK[sum % 11]);
    if check != expected {
        return Err(Invalid::new(FIELD, "check letter is wrong"));
    }
    Ok(format!("{stem}{loc}{check}"))
}

/// The three kinds of 16-digit health identifier issued by the HI Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthIdentifierKind {
    /// Individual Healthcare Identifier (a patient), prefix 800360.
    Ihi,
    /// Healthcare Provider Identifier – Individual, prefix 800361.
    HpiI,
    /// Healthcare Provider Identifier – Organisation, prefix 800362.
    HpiO,
}

impl HealthIdentifierKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Ihi => "800360",
            Self::HpiI => "800361",
            Self::HpiO => "800362",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Self::Ihi => "IHI",
            Self::HpiI => "HPI-I",
            Self::HpiO => "HPI-O",
        }
    }
}

/// An IHI, HPI-I or HPI-O: 16 digits, the kind's prefix, Luhn over all 16.
pub fn health_identifier(kind: HealthIdentifierKind, input: &str) -> Result<String, Invalid> {
    let field = kind.label();
    let s = compact(input);
    if s.len() != 16 || !s.chars().all(|c| c.is_ascii_digit()) {
        return Err(Invalid::new(field, "must be 16 digits"));
    }
    if !s.starts_with(kind.prefix()) {
        return Err(Invalid::new(
            field,
            format!("must start with {}", kind.prefix()),
        ));
    }
    if !luhn_ok(&s) {
        return Err(Invalid::new(field, "check digit is wrong"));
    }
    Ok(s)
}

/// The Luhn (mod 10) check over a string of ASCII digits.
fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A DVA file number: state letter, 1–3 letter war code and digits making 7
/// characters, then an optional segment letter. There is no check digit.
pub fn dva_number(input: &str) -> Result<String, Invalid> {
    const FIELD: &str = "DVA number";
    let s = compact(input).to_ascii_uppercase();
    let bytes = s.as_bytes();
    if !(8..=9).contains(&bytes.len()) || !s.is_ascii() {
        return Err(Invalid::new(
            FIELD,
            "must be a state letter, a war code and digits (8 or 9 characters), e.g. NX123456",
        ));
    }
    if !b"NVQWST".contains(&bytes[0]) {
        return Err(Invalid::new(
            FIELD,
            "must start with a state letter (N, V, Q, W, S or T)",
        ));
    }
    let body = &bytes[1..8];
    let letters = body.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if !(1..=3).contains(&letters) || !body[letters..].iter().all(u8::is_ascii_digit) {
        return Err(Invalid::new(
            FIELD,
            "after the state letter there must be a 1–3 letter war code and then digits",
        ));
    }
    if bytes.len() == 9 && !bytes[8].is_ascii_uppercase() {
        return Err(Invalid::new(FIELD, "the last character must be a letter"));
    }
    Ok(s)
}

/// An AHPRA registration number: three letters and ten digits (MED0001234567).
pub fn ahpra_number(input: &str) -> Result<String, Invalid> {
    const FIELD: &str = "AHPRA number";
    let s = compact(input).to_ascii_uppercase();
    let b = s.as_bytes();
    if b.len() != 13
        || !b[..3].iter().all(u8::is_ascii_uppercase)
        || !b[3..].iter().all(u8::is_ascii_digit)
    {
        return Err(Invalid::new(
            FIELD,
            "must be three letters and ten digits, e.g. MED0001234567",
        ));
    }
    Ok(s)
}

/// Australian states and territories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    Nsw,
    Vic,
    Qld,
    Sa,
    Wa,
    Tas,
    Nt,
    Act,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Nsw,
        State::Vic,
        State::Qld,
        State::Sa,
        State::Wa,
        State::Tas,
        State::Nt,
        State::Act,
    ];

    pub fn code(self) -> &'static str {
        match self {
            State::Nsw => "NSW",
            State::Vic => "VIC",
            State::Qld => "QLD",
            State::Sa => "SA",
            State::Wa => "WA",
            State::Tas => "TAS",
            State::Nt => "NT",
            State::Act => "ACT",
        }
    }

    /// Whether Australia Post uses this postcode in this state. Ranges from
    /// Australia Post's published allocation; 2620 and the 29xx block are
    /// shared by NSW and the ACT, so both are accepted there.
    pub fn has_postcode(self, postcode: u16) -> bool {
        let p = postcode;
        match self {
            State::Nsw => {
                (1000..=2599).contains(&p)
                    || (2619..=2899).contains(&p)
                    || (2921..=2999).contains(&p)
            }
            State::Act => {
                (200..=299).contains(&p) || (2600..=2620).contains(&p) || (2900..=2920).contains(&p)
            }
            State::Vic => (3000..=3999).contains(&p) || (8000..=8999).contains(&p),
            State::Qld => (4000..=4999).contains(&p) || (9000..=9999).contains(&p),
            State::Sa => (5000..=5999).contains(&p),
            State::Wa => (6000..=6797).contains(&p) || (6800..=6999).contains(&p),
            State::Tas => (7000..=7999).contains(&p),
            State::Nt => (800..=999).contains(&p),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for State {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let up = s.trim().to_ascii_uppercase();
        State::ALL
            .into_iter()
            .find(|st| st.code() == up)
            .ok_or_else(|| {
                Invalid::new(
                    "State",
                    "must be one of NSW, VIC, QLD, SA, WA, TAS, NT, ACT",
                )
            })
    }
}

/// A four-digit postcode.
pub fn postcode(input: &str) -> Result<String, Invalid> {
    let s = input.trim();
    if s.len() != 4 || !s.chars().all(|c| c.is_ascii_digit()) {
        return Err(Invalid::new("Postcode", "must be 4 digits"));
    }
    Ok(s.to_string())
}

/// A postcode that must belong to the given state.
pub fn postcode_in_state(input: &str, state: State) -> Result<String, Invalid> {
    let p = postcode(input)?;
    let n: u16 = p
        .parse()
        .map_err(|_| Invalid::new("Postcode", "must be 4 digits"))?;
    if !state.has_postcode(n) {
        return Err(Invalid::new(
            "Postcode",
            format!("{p} is not a postcode in {state}"),
        ));
    }
    Ok(p)
}

/// An Australian phone or fax number, returned as digits (e.g. `0298765432`).
/// Accepts spaces, brackets, hyphens and a leading +61.
pub fn phone_number(field: &'static str, input: &str) -> Result<String, Invalid> {
    let mut s: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '(' | ')' | '.'))
        .collect();
    if let Some(rest) = s.strip_prefix("+61") {
        s = format!("0{rest}");
    }
    if !s.chars().all(|c| c.is_ascii_digit()) {
        return Err(Invalid::new(
            field,
            "may contain only digits, spaces, brackets and +61",
        ));
    }
    let ok = match s.len() {
        // 13 xx xx
        6 => s.starts_with("13"),
        // 02, 03, 04, 07, 08 numbers; 1300 and 1800 numbers
        10 => {
            matches!(&s[..2], "02" | "03" | "04" | "07" | "08")
                || s.starts_with("1300")
                || s.starts_with("1800")
        }
        _ => false,
    };
    if !ok {
        return Err(Invalid::new(
            field,
            "must be an Australian number with area code, e.g. 02 9876 5432 or 0412 345 678",
        ));
    }
    Ok(s)
}

/// An e-mail address (RFC 5321 §4.1.2 `Mailbox`, dot-atom local part only),
/// returned lower case. Quoted local parts are refused: they are legal but
/// no provider needs one, and they are a classic source of confusion.
pub fn email_address(input: &str) -> Result<String, Invalid> {
    const FIELD: &str = "E-mail address";
    let s = input.trim().to_ascii_lowercase();
    // RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254.
    if s.is_empty() || s.len() > 254 {
        return Err(Invalid::new(FIELD, "must be between 1 and 254 characters"));
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return Err(Invalid::new(
            FIELD,
            "must contain an @, e.g. reception@example.com.au",
        ));
    };
    // RFC 5321 §4.5.3.1.1: local part at most 64 octets.
    if local.is_empty() || local.len() > 64 {
        return Err(Invalid::new(
            FIELD,
            "the part before @ must be 1 to 64 characters",
        ));
    }
    const ATEXT: &str = "!#$%&'*+-/=?^_`{|}~";
    if local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || !local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || ATEXT.contains(c))
    {
        return Err(Invalid::new(
            FIELD,
            "the part before @ may use letters, digits and . - _ + only",
        ));
    }
    domain_name(domain).map_err(|e| Invalid::new(FIELD, e.reason))?;
    Ok(s)
}

/// A DNS domain name of at least two labels (letters, digits, hyphens).
pub fn domain_name(input: &str) -> Result<String, Invalid> {
    const FIELD: &str = "Domain";
    let d = input.trim().trim_end_matches('.').to_ascii_lowercase();
    // RFC 1035 §2.3.4: 63 octets a label, 255 a name.
    if d.len() > 253 || !d.contains('.') {
        return Err(Invalid::new(
            FIELD,
            "the part after @ must be a domain name such as example.com.au",
        ));
    }
    for label in d.split('.') {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Invalid::new(
                FIELD,
                format!("'{label}' is not a valid part of a domain name"),
            ));
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn medicare_examples() {
        for ok in [
            "2123456701",
            "22222221111",
            "25653450431",
            "4009887514",
            "2123 45670 1",
        ] {
            assert!(medicare_number(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            medicare_number("2123456711").unwrap_err().reason,
            "check digit is wrong"
        );
        assert!(medicare_number("1123456701").is_err());
        assert!(medicare_number("2123456700").is_err(), "issue number 0");
        assert!(medicare_number("21234567010").is_err(), "IRN 0");
        assert!(medicare_number("21234567").is_err());
        assert!(medicare_number("212345670x").is_err());
    }

    #[test]
    fn provider_examples() {
        for ok in [
            "2426621B", "049960CT", "0302523B", "4322581B", "2448141T", "457833CF",
        ] {
            assert_eq!(provider_number(ok).unwrap(), ok);
        }
        assert_eq!(provider_number("49960ct").unwrap(), "049960CT");
        assert_eq!(
            provider_number("2426621A").unwrap_err().reason,
            "check letter is wrong"
        );
        assert!(
            provider_number("242662IB").is_err(),
            "I is never a location"
        );
        assert!(provider_number("24266").is_err());
        assert!(provider_number("24266é1B").is_err());
    }

    #[test]
    fn health_identifier_examples() {
        use HealthIdentifierKind::*;
        assert!(health_identifier(Ihi, "8003608833357361").is_ok());
        assert!(health_identifier(HpiI, "8003616566719020").is_ok());
        assert!(health_identifier(HpiO, "8003624166708567").is_ok());
        assert!(
            health_identifier(HpiO, "8003616566719020").is_err(),
            "wrong prefix"
        );
        assert_eq!(
            health_identifier(Ihi, "8003608833357362")
                .unwrap_err()
                .reason,
            "check digit is wrong"
        );
    }

    #[test]
    fn dva_examples() {
        for ok in ["NABC1234C", "VA123456", "QZX12345Z", "nx 123456"] {
            assert!(dva_number(ok).is_ok(), "{ok}");
        }
        for bad in ["XA123456", "N1234567", "NABCD1234", "VA12345", "VA1234567"] {
            assert!(dva_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn postcode_and_state() {
        assert!(postcode_in_state("2000", State::Nsw).is_ok());
        assert!(postcode_in_state("0800", State::Nt).is_ok());
        assert!(postcode_in_state("2600", State::Act).is_ok());
        assert!(postcode_in_state("3000", State::Nsw).is_err());
        assert!(postcode("200").is_err());
        assert_eq!("vic".parse::<State>().unwrap(), State::Vic);
        assert!("Victoria".parse::<State>().is_err());
    }

    #[test]
    fn phones() {
        assert_eq!(
            phone_number("Phone", "(02) 9876 5432").unwrap(),
            "0298765432"
        );
        assert_eq!(
            phone_number("Phone", "+61 412 345 678").unwrap(),
            "0412345678"
        );
        assert!(phone_number("Phone", "131 450").is_ok());
        assert!(phone_number("Phone", "1800 123 456").is_ok());
        assert!(phone_number("Phone", "9876 5432").is_err());
        assert!(phone_number("Phone", "05 1234 5678").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            email_address(" Reception@Example.COM.au ").unwrap(),
            "reception@example.com.au"
        );
        assert!(email_address("jane@athen.localhost").is_ok());
        for bad in [
            "jane",
            "jane@",
            "@x.test",
            "ja..ne@x.test",
            "jane@localhost",
            "\"q\"@x.test",
            "a@-x.test",
        ] {
            assert!(email_address(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        // No checker panics on any input, and every accepted value is accepted again.
        #[test]
        fn checkers_never_panic(s in "\\PC{0,40}") {
            for v in [medicare_number(&s), provider_number(&s), dva_number(&s), ahpra_number(&s),
                      email_address(&s), postcode(&s), phone_number("Phone", &s)].into_iter().flatten() {
                prop_assert!(!v.is_empty());
            }
            let _ = health_identifier(HealthIdentifierKind::Ihi, &s);
        }

        #[test]
        fn medicare_canonical_is_stable(n in 2_000_000_000u64..7_000_000_000u64) {
            if let Ok(v) = medicare_number(&n.to_string()) {
                prop_assert_eq!(medicare_number(&v).unwrap(), v);
            }
        }
    }
}
