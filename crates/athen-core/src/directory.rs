//! The public directory: organisations, individual providers and the staff
//! listed beneath organisations (shared/reference/athen-original.md,
//! "Directory entries"). Everything here is public by design.

use crate::error::Invalid;
use crate::identifiers::{self, HealthIdentifierKind, State};
use crate::ids::{AccountId, EntryId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a directory entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryRole {
    Organisation,
    Individual,
    /// A person listed under an organisation, so the practice can be found by
    /// their name or provider number. Has no login of their own unless the
    /// organisation gives them one.
    Staff,
}

impl EntryRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organisation => "organisation",
            Self::Individual => "individual",
            Self::Staff => "staff",
        }
    }
}

impl FromStr for EntryRole {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s {
            "organisation" => Ok(Self::Organisation),
            "individual" => Ok(Self::Individual),
            "staff" => Ok(Self::Staff),
            _ => Err(Invalid::new("Role", "unknown entry role")),
        }
    }
}

/// Business categories offered at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    GeneralPractice,
    SpecialistRooms,
    Hospital,
    AlliedHealth,
    CommunityHealth,
    Headspace,
    LawFirm,
    Police,
    DisabilityNgo,
    ChildProtection,
}

impl Category {
    pub const ALL: [Category; 10] = [
        Self::GeneralPractice,
        Self::SpecialistRooms,
        Self::Hospital,
        Self::AlliedHealth,
        Self::CommunityHealth,
        Self::Headspace,
        Self::LawFirm,
        Self::Police,
        Self::DisabilityNgo,
        Self::ChildProtection,
    ];

    /// The stable machine name (used on the command line, in JSON and the database).
    pub fn slug(self) -> &'static str {
        match self {
            Self::GeneralPractice => "general-practice",
            Self::SpecialistRooms => "specialist-rooms",
            Self::Hospital => "hospital",
            Self::AlliedHealth => "allied-health",
            Self::CommunityHealth => "community-health",
            Self::Headspace => "headspace",
            Self::LawFirm => "law-firm",
            Self::Police => "police",
            Self::DisabilityNgo => "disability-ngo",
            Self::ChildProtection => "child-protection",
        }
    }

    /// The words shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Self::GeneralPractice => "General Practice",
            Self::SpecialistRooms => "Specialist Rooms",
            Self::Hospital => "Hospital",
            Self::AlliedHealth => "Allied Health",
            Self::CommunityHealth => "Community Health",
            Self::Headspace => "headspace centre",
            Self::LawFirm => "Law firm",
            Self::Police => "Police",
            Self::DisabilityNgo => "Disability NGO",
            Self::ChildProtection => "Child Protection",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

impl FromStr for Category {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let t = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|c| c.slug() == t || c.label().to_ascii_lowercase() == t)
            .ok_or_else(|| {
                let all: Vec<&str> = Self::ALL.iter().map(|c| c.slug()).collect();
                Invalid::new("Category", format!("must be one of: {}", all.join(", ")))
            })
    }
}

/// The public details of an organisation, person or staff member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryDetails {
    pub title: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// For organisations: the practice or organisation name.
    pub organisation_name: Option<String>,
    /// For staff: their role in the organisation ("Practice Manager", "GP").
    pub position: Option<String>,
    pub specialty: Option<String>,
    pub category: Option<Category>,
    pub street: Option<String>,
    pub suburb: Option<String>,
    pub state: Option<State>,
    pub postcode: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
    /// Medicare provider numbers (a doctor has one per practice location).
    pub provider_numbers: Vec<String>,
    pub ahpra: Option<String>,
    /// HPI-I for people, HPI-O for organisations.
    pub hpi: Option<String>,
}

/// A stored directory entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    pub id: EntryId,
    pub account_id: AccountId,
    pub role: EntryRole,
    #[serde(flatten)]
    pub details: EntryDetails,
}

impl EntryDetails {
    /// How the entry is named to people: "Dr Jane Citizen" or "Northside Medical".
    pub fn display_name(&self) -> String {
        if let Some(org) = &self.organisation_name {
            return org.clone();
        }
        [&self.title, &self.given_name, &self.family_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Entry details as typed, before checking. Every field is free text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EntryInput {
    pub title: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub organisation_name: Option<String>,
    pub position: Option<String>,
    pub specialty: Option<String>,
    pub category: Option<String>,
    pub street: Option<String>,
    pub suburb: Option<String>,
    pub state: Option<String>,
    pub postcode: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
    pub provider_numbers: Vec<String>,
    pub ahpra: Option<String>,
    pub hpi: Option<String>,
}

/// Longest free-text field we accept (names, streets): generous for real
/// names, small enough to keep pages and letters sane.
const MAX_TEXT: usize = 200;

fn text(field: &'static str, v: &Option<String>, errors: &mut Vec<Invalid>) -> Option<String> {
    let t = v.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
    if t.chars().count() > MAX_TEXT {
        errors.push(Invalid::new(
            field,
            format!("must be at most {MAX_TEXT} characters"),
        ));
        return None;
    }
    if t.chars().any(char::is_control) {
        errors.push(Invalid::new(field, "must not contain control characters"));
        return None;
    }
    Some(t.to_string())
}

fn checked<T>(r: Result<T, Invalid>, errors: &mut Vec<Invalid>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

impl EntryInput {
    /// Checks every field and returns the details in canonical form, or every
    /// problem found (not just the first), so a form can show them all at once.
    pub fn validate(&self, role: EntryRole) -> Result<EntryDetails, Vec<Invalid>> {
        let mut errors = Vec::new();
        let e = &mut errors;
        let mut d = EntryDetails {
            title: text("Title", &self.title, e),
            given_name: text("Given name", &self.given_name, e),
            family_name: text("Family name", &self.family_name, e),
            organisation_name: text("Organisation name", &self.organisation_name, e),
            position: text("Role", &self.position, e),
            specialty: text("Specialty", &self.specialty, e),
            street: text("Street", &self.street, e),
            suburb: text("Suburb", &self.suburb, e),
            ..EntryDetails::default()
        };
        d.category = text("Category", &self.category, e).and_then(|c| checked(c.parse(), e));
        d.state = text("State", &self.state, e).and_then(|s| checked(s.parse(), e));
        d.postcode = match (text("Postcode", &self.postcode, e), d.state) {
            (Some(p), Some(st)) => checked(identifiers::postcode_in_state(&p, st), e),
            (Some(p), None) => checked(identifiers::postcode(&p), e),
            (None, _) => None,
        };
        d.phone = text("Phone", &self.phone, e)
            .and_then(|p| checked(identifiers::phone_number("Phone", &p), e));
        d.fax = text("Fax", &self.fax, e)
            .and_then(|p| checked(identifiers::phone_number("Fax", &p), e));
        for p in &self.provider_numbers {
            if let Some(v) = checked(identifiers::provider_number(p), e)
                && !d.provider_numbers.contains(&v)
            {
                d.provider_numbers.push(v);
            }
        }
        d.ahpra = text("AHPRA number", &self.ahpra, e)
            .and_then(|a| checked(identifiers::ahpra_number(&a), e));
        let hpi_kind = match role {
            EntryRole::Organisation => HealthIdentifierKind::HpiO,
            _ => HealthIdentifierKind::HpiI,
        };
        d.hpi = text("HPI", &self.hpi, e)
            .and_then(|h| checked(identifiers::health_identifier(hpi_kind, &h), e));

        match role {
            EntryRole::Organisation => {
                if d.organisation_name.is_none() {
                    e.push(Invalid::new("Organisation name", "is required"));
                }
                if d.given_name.is_some() || d.family_name.is_some() {
                    e.push(Invalid::new(
                        "Given name",
                        "an organisation has no personal name; add the people as staff",
                    ));
                }
            }
            EntryRole::Individual | EntryRole::Staff => {
                if d.family_name.is_none() {
                    e.push(Invalid::new("Family name", "is required"));
                }
                if d.organisation_name.is_some() {
                    e.push(Invalid::new(
                        "Organisation name",
                        "belongs on an organisation account, not a person",
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(d)
        } else {
            Err(errors)
        }
    }
}

/// A directory search. Every given criterion must match.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DirectoryQuery {
    /// The beginnings of words of a person's or organisation's name, in
    /// any order, case and accents ignored ("jan cit" finds Dr Jane Citizen).
    pub name: Option<String>,
    /// A provider number (exact, any format that normalises to it).
    pub provider_number: Option<String>,
    /// A suburb name (case-insensitive) or a postcode.
    pub place: Option<String>,
    /// The beginnings of words of a specialty ("cardio", "paed").
    pub specialty: Option<String>,
    pub category: Option<Category>,
    /// Include accounts that are not confirmed (administrators only).
    pub include_unconfirmed: bool,
    pub limit: u32,
}

/// One search result: the matching entry and, for staff, their organisation,
/// with the address to write to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryHit {
    pub entry: DirectoryEntry,
    /// For a staff entry, the organisation it is listed under.
    pub organisation: Option<DirectoryEntry>,
    /// The mailbox address that reaches this entry.
    pub address: String,
    pub account_status: crate::account::AccountStatus,
}

/// Lower-cased, accent-folded text: what names are searched and sorted by.
pub fn search_key(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(fold_accent)
        .collect()
}

/// The words a directory search looks at, or looks for: runs of letters
/// and digits of [`search_key`] (so "Dr Jürgen Müller" has the words dr,
/// jurgen and muller). A name written with an
/// apostrophe or hyphen is also one word without it ("O'Brien" is o,
/// brien and obrien), so a search finds it however it is typed. Each word
/// once, in order of appearance.
pub fn search_words(s: &str) -> Vec<String> {
    words_of(s, true)
}

/// The words to look for in what someone typed into a search: as
/// [`search_words`], but a name with an apostrophe or hyphen is only the
/// joined word, so "o'brien" finds O'Brien and Obrien alike (both have the
/// word obrien), and "smith-jones" needs Smith-Jones, not any Smith.
pub fn typed_words(s: &str) -> Vec<String> {
    words_of(s, false)
}

fn words_of(s: &str, with_parts: bool) -> Vec<String> {
    let key = search_key(s);
    let mut out: Vec<String> = Vec::new();
    let mut push = |w: String| {
        if !w.is_empty() && !out.contains(&w) {
            out.push(w);
        }
    };
    for token in key.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-')) {
        let parts: Vec<&str> = token
            .split(|c: char| !c.is_alphanumeric())
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() > 1 {
            push(parts.concat());
            if !with_parts {
                continue;
            }
        }
        for part in parts {
            push(part.to_string());
        }
    }
    out
}

/// The mailbox name made from a provider's name ("Northside Medical
/// Centre" → `northside.medical.centre`, "Dr Jürgen Müller" →
/// `dr.juergen.mueller`): lower case, spaces as dots, German umlauts and ß
/// written out, other accents folded, and nothing but `a-z 0-9 . _` kept
/// (athen-original.md, "Registration"). Never starts or ends with a dot,
/// nor has two together; at most 64 characters (RFC 5321 §4.5.3.1.1).
pub fn local_part_from_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        let written: &str = match c {
            'ä' => "ae",
            'ö' => "oe",
            'ü' => "ue",
            'ß' => "ss",
            'æ' => "ae",
            'œ' => "oe",
            _ => "",
        };
        if !written.is_empty() {
            out.push_str(written);
            continue;
        }
        match fold_accent(c) {
            c @ ('a'..='z' | '0'..='9' | '_') => out.push(c),
            ' ' | '.' | '-' | '\t' | '/' | '&' | ',' if !out.is_empty() && !out.ends_with('.') => {
                out.push('.')
            }
            _ => {}
        }
    }
    let mut out: String = out.trim_end_matches('.').chars().take(64).collect();
    while out.ends_with('.') {
        out.pop();
    }
    out
}

/// Folds the Latin accented letters common in Australian names to ASCII, so
/// "Müller" is found by "muller" and "Nguyễn" by "nguyen".
fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ạ' | 'ả' | 'ấ' | 'ầ' | 'ẩ' | 'ẫ' | 'ậ'
        | 'ắ' | 'ằ' | 'ẳ' | 'ẵ' | 'ặ' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'đ' | 'ď' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' | 'ẹ' | 'ẻ' | 'ẽ' | 'ế' | 'ề' | 'ể' | 'ễ'
        | 'ệ' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ĩ' | 'ỉ' | 'ị' => 'i',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ơ' | 'ọ' | 'ỏ' | 'ố' | 'ồ' | 'ổ' | 'ỗ' | 'ộ'
        | 'ớ' | 'ờ' | 'ở' | 'ỡ' | 'ợ' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ũ' | 'ư' | 'ụ' | 'ủ' | 'ứ' | 'ừ' | 'ử' | 'ữ' | 'ự' => {
            'u'
        }
        'ý' | 'ÿ' | 'ỳ' | 'ỵ' | 'ỷ' | 'ỹ' => 'y',
        'ś' | 'š' => 's',
        'ź' | 'ż' | 'ž' => 'z',
        'ł' => 'l',
        'ř' => 'r',
        'ť' => 't',
        other => other,
    }
}

/// The login name a staff member gets by default: the organisation's
/// address with their name after a `+` (RFC 5233 subaddressing, so it is
/// still the organisation's mailbox), e.g. `reception+anna.muller@…`.
pub fn staff_login_name(org_address: &str, person: &EntryDetails) -> String {
    let name: String = [person.given_name.as_deref(), person.family_name.as_deref()]
        .into_iter()
        .flatten()
        .map(|p| {
            search_key(p)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(".");
    let (local, domain) = org_address.split_once('@').unwrap_or((org_address, ""));
    format!("{local}+{name}@{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_names_come_from_provider_names() {
        assert_eq!(
            local_part_from_name("Northside Medical Centre"),
            "northside.medical.centre"
        );
        assert_eq!(
            local_part_from_name("Dr Jürgen Müller"),
            "dr.juergen.mueller"
        );
        assert_eq!(
            local_part_from_name("  Nguyễn  Thị Hồng "),
            "nguyen.thi.hong"
        );
        assert_eq!(
            local_part_from_name("O'Brien & Sons, Pty. Ltd."),
            "obrien.sons.pty.ltd"
        );
        assert_eq!(local_part_from_name("李"), "");
        assert!(local_part_from_name(&"a ".repeat(100)).len() <= 64);
        assert!(!local_part_from_name(&"ab ".repeat(40)).ends_with('.'));
    }

    fn org() -> EntryInput {
        EntryInput {
            organisation_name: Some("Northside Medical".into()),
            street: Some("1 High St".into()),
            suburb: Some("Fitzroy".into()),
            state: Some("vic".into()),
            postcode: Some("3065".into()),
            phone: Some("(03) 9123 4567".into()),
            category: Some("General Practice".into()),
            ..Default::default()
        }
    }

    #[test]
    fn organisation_validates() {
        let d = org().validate(EntryRole::Organisation).unwrap();
        assert_eq!(d.state, Some(State::Vic));
        assert_eq!(d.phone.as_deref(), Some("0391234567"));
        assert_eq!(d.category, Some(Category::GeneralPractice));
        assert_eq!(d.display_name(), "Northside Medical");
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let mut i = org();
        i.postcode = Some("2000".into());
        i.phone = Some("123".into());
        i.provider_numbers = vec!["2426621A".into()];
        i.organisation_name = None;
        let errs = i.validate(EntryRole::Organisation).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field).collect();
        assert!(fields.contains(&"Postcode"), "{errs:?}");
        assert!(fields.contains(&"Phone"));
        assert!(fields.contains(&"Provider number"));
        assert!(fields.contains(&"Organisation name"));
    }

    #[test]
    fn person_needs_family_name() {
        let i = EntryInput {
            given_name: Some("Jane".into()),
            ..Default::default()
        };
        assert!(i.validate(EntryRole::Individual).is_err());
    }

    #[test]
    fn search_keys_fold_accents() {
        assert_eq!(search_key("Müller"), "muller");
        assert_eq!(search_key("Nguyễn"), "nguyen");
        assert_eq!(search_key("O'Brien"), "o'brien");
    }

    #[test]
    fn search_words_are_runs_of_letters_with_joined_names_too() {
        assert_eq!(
            search_words("Dr Jürgen  Müller"),
            ["dr", "jurgen", "muller"]
        );
        assert_eq!(search_words("O'Brien"), ["obrien", "o", "brien"]);
        assert_eq!(
            search_words("Smith-Jones, smith"),
            ["smithjones", "smith", "jones"]
        );
        assert_eq!(search_words("p__ 50%"), ["p", "50"]);
        assert!(search_words(" %_' - ").is_empty());
        assert_eq!(search_words("王 小明"), ["王", "小明"]);
        assert_eq!(typed_words("O'Brien smith-"), ["obrien", "smith"]);
        assert_eq!(typed_words("jan cit"), ["jan", "cit"]);
    }
}
