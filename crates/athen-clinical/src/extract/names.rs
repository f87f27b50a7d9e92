//! People's names as letters write them: titles, family names in capitals
//! or after a comma, particles ("van der", "Te"), post-nominals, and the
//! test of whether a text is a name at all ("Re: Cardiology referral").

use super::{non_empty, without_controls};

/// Words read as a title before a name ("Dr Jane Citizen").
pub(crate) const TITLES: [&str; 11] = [
    "Mr",
    "Mrs",
    "Ms",
    "Miss",
    "Mx",
    "Master",
    "Dr",
    "Prof",
    "Professor",
    "A/Prof",
    "Sr",
];

/// Splits "Dr Anna Müller", "MÜLLER, Anna" or "Anna MÜLLER" into title,
/// given names and family name.
pub fn split_person(text: &str) -> (Option<String>, Option<String>, Option<String>) {
    let text = without_controls(text, false);
    let text = text.trim().trim_end_matches([',', '.']);
    if let Some((family, given)) = text.split_once(',') {
        let (title, given) = strip_title(given.trim());
        return (title, non_empty(given), non_empty(family.trim()));
    }
    let (title, rest) = strip_title(text);
    let words: Vec<&str> = rest.split_whitespace().collect();
    let Some((last, first)) = words.split_last() else {
        return (title, None, None);
    };
    // A word in capitals among mixed-case words is the family name
    // ("John SMITH Paul" is rare; "John Paul SMITH" is common).
    let caps = |w: &&str| w.chars().any(char::is_alphabetic) && !w.chars().any(char::is_lowercase);
    if let Some(pos) = words.iter().position(caps)
        && words.len() > 1
        && !words.iter().all(caps)
    {
        let family = words[pos..]
            .iter()
            .take_while(|w| caps(w))
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let given: Vec<&str> = words
            .iter()
            .enumerate()
            .filter(|(i, w)| *i < pos || !caps(w))
            .map(|(_, w)| *w)
            .collect();
        return (title, non_empty(&given.join(" ")), non_empty(&family));
    }
    // Particles before the last word belong to the family name
    // ("Liam van der Berg", "Aroha Te Whāiti").
    let mut cut = first.len();
    while cut > 1 && PARTICLES.contains(&first[cut - 1].to_lowercase().as_str()) {
        cut -= 1;
    }
    let family = words[cut..].join(" ");
    let _ = last;
    (
        title,
        non_empty(&first[..cut].join(" ")),
        non_empty(&family),
    )
}

/// Words that begin a family name of more than one word.
const PARTICLES: [&str; 17] = [
    "van", "von", "der", "den", "de", "da", "di", "du", "del", "della", "le", "la", "te", "ter",
    "ten", "dos", "bin",
];

/// Qualifications and memberships written after a name.
const POST_NOMINALS: [&str; 39] = [
    "mbbs",
    "mb",
    "bs",
    "md",
    "phd",
    "fracgp",
    "fracp",
    "fracs",
    "franzcog",
    "franzcp",
    "franzcr",
    "facem",
    "fanzca",
    "frcp",
    "frcs",
    "facrrm",
    "dch",
    "dobstranzcog",
    "mph",
    "bsc",
    "bmed",
    "bmedsc",
    "bphty",
    "mphty",
    "apam",
    "bpod",
    "bappsc",
    "hons",
    "mpsych",
    "maps",
    "ba",
    "ma",
    "rn",
    "dip",
    "grad",
    "cert",
    "faps",
    "fafrm",
    "mrcgp",
];

/// A qualification ("MBBS", "B.Pod", "(Hons)"), or punctuation alone.
fn is_post_nominal(word: &str) -> bool {
    let bare: String = word
        .chars()
        .filter(|c| !matches!(c, ',' | '(' | ')' | '.'))
        .collect::<String>()
        .to_lowercase();
    bare.is_empty() || POST_NOMINALS.contains(&bare.as_str())
}

/// A person as a signature or an address block writes them: "Dr Jane
/// CITIZEN, MBBS FRACGP", "Dr Jane Citizen (Provider No. 2426621B)",
/// "Olivia Baxter BPhty". `None` when the line is not a name.
pub(crate) fn person_line(line: &str) -> Option<(Option<String>, Option<String>, String)> {
    let line = line.split(['(', ',', '–', '|']).next()?.trim();
    let line = line.split(" - ").next()?.trim();
    let mut words: Vec<&str> = line.split_whitespace().collect();
    while words.len() > 1 && words.last().is_some_and(|w| is_post_nominal(w)) {
        words.pop();
    }
    let text = words.join(" ");
    if !looks_like_name(&text) {
        return None;
    }
    let (title, given, family) = split_person(&text);
    Some((title, given, family?))
}

/// Words that say a "Re:" line names a topic, not a person.
const NOT_NAMES: [&str; 28] = [
    "referral",
    "review",
    "letter",
    "report",
    "summary",
    "discharge",
    "consultation",
    "assessment",
    "appointment",
    "results",
    "result",
    "request",
    "requested",
    "clinic",
    "patient",
    "patients",
    "urgent",
    "your",
    "our",
    "the",
    "for",
    "of",
    "with",
    "follow",
    "opinion",
    "investigation",
    "surgery",
    "management",
];

/// Whether a text is a person's name: one to six words of letters
/// (apostrophes, hyphens, dots), at least one capitalised, none of them
/// a word of a topic ("Re: Cardiology referral").
pub(crate) fn looks_like_name(text: &str) -> bool {
    let (_, rest) = strip_title(text.trim());
    let words: Vec<&str> = rest
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() || words.len() > 6 {
        return false;
    }
    let name_char = |c: char| c.is_alphabetic() || "'’ʻ`-.".contains(c) || is_combining(c);
    words.iter().all(|w| {
        w.chars().next().is_some_and(char::is_alphabetic)
            && w.chars().all(name_char)
            && !NOT_NAMES.contains(&w.to_lowercase().as_str())
    }) && words
        .iter()
        .any(|w| w.chars().next().is_some_and(char::is_uppercase))
}

/// Combining marks (a decomposed "ễ" is "e" and two of these).
fn is_combining(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36f}')
}

pub(crate) fn strip_title(text: &str) -> (Option<String>, &str) {
    if let Some((first, rest)) = text.split_once(char::is_whitespace) {
        let bare = first.trim_end_matches('.');
        if let Some(t) = TITLES.iter().find(|t| t.eq_ignore_ascii_case(bare)) {
            return (Some(t.to_string()), rest.trim());
        }
    }
    (None, text)
}

/// A name for comparing: letters and digits only, lower case, accents and
/// other scripts spelled in ASCII by deunicode (the crate the HL7 writer
/// uses), so "Thị" and "Thi", "Müller" and "MULLER" are the same name.
pub(crate) fn fold(s: &str) -> String {
    deunicode::deunicode(s)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}
