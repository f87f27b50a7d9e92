//! The letter's date, its author (the signature block, or a "Reported by:"
//! line) and its recipient (the salutation joined with the address block
//! above it, or a "To:"/"GP:" line).

use super::names::{fold, person_line, split_person, strip_title};
use super::rows::{Label, Pair, Role, Row};
use crate::date::Date;
use crate::patient::{Found, Party, Source};
use athen_core::identifiers;

/// Lines that end a letter's text and open its signature.
const SIGN_OFFS: [&str; 16] = [
    "yours sincerely",
    "yours faithfully",
    "yours truly",
    "sincerely",
    "kind regards",
    "kindest regards",
    "warm regards",
    "with kind regards",
    "best regards",
    "regards",
    "many thanks",
    "with thanks",
    "thank you",
    "yours",
    "electronically signed by",
    "signed",
];

/// The row that opens the signature, if any.
pub(super) fn sign_off(rows: &[Row]) -> Option<usize> {
    rows.iter().position(|r| {
        let t = r.text();
        let t = t.trim().trim_end_matches([',', '.', ':']).to_lowercase();
        SIGN_OFFS.contains(&t.as_str())
    })
}

/// The first row of "Dear …".
fn salutation(rows: &[Row]) -> Option<(usize, String)> {
    rows.iter().enumerate().find_map(|(i, r)| {
        let t = r.text();
        let rest = t.trim().strip_prefix("Dear ")?;
        Some((i, rest.trim().trim_end_matches([',', ':', ' ']).to_string()))
    })
}

/// The row where the letter proper starts ("Dear …"), if it has one.
pub(super) fn salutation_row(rows: &[Row]) -> Option<usize> {
    salutation(rows).map(|(i, _)| i)
}

fn letter_source(row: &Row, label: &str) -> Source {
    Source::Letter {
        line: row.line + 1,
        label: label.into(),
    }
}

/// The letter's date: a "Date:" line, or a date alone on a line near the
/// top; else the message's Date header.
pub(super) fn letter_date(
    rows: &[Row],
    pairs: &[Pair],
    today: Date,
    sent: Option<Date>,
) -> Option<Found<Date>> {
    let labelled = pairs.iter().find_map(|p| {
        (p.kind == Label::LetterDate)
            .then(|| Date::parse(&p.value, today.year).ok())
            .flatten()
            .map(|d| Found::new(d, letter_source(&rows[p.row], &p.label)))
    });
    let alone = || {
        rows.iter().take(40).find_map(|r| {
            let t = r.text();
            let t = t.trim();
            (!t.is_empty() && t.len() <= 40)
                .then(|| Date::parse(t, today.year).ok())
                .flatten()
                .map(|d| Found::new(d, letter_source(r, "")))
        })
    };
    labelled
        .or_else(alone)
        .or_else(|| sent.map(|d| Found::new(d, Source::DateHeader)))
}

/// A provider number in a text ("Provider No. 2426621B", "Prov 166359AX",
/// a 5-digit stem), checked: only a number with a correct check letter.
fn provider_number(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| (7..=8).contains(&w.len()) && w.starts_with(|c: char| c.is_ascii_digit()))
        .find_map(|w| identifiers::provider_number(w).ok())
}

fn party(title: Option<String>, given: Option<String>, family: String) -> Party {
    Party {
        title,
        given_names: given,
        family_name: Some(family),
        ..Default::default()
    }
}

/// The author: the first name under the sign-off, with a provider number
/// from the lines below it; else a "Reported by:" line.
pub(super) fn author(rows: &[Row], pairs: &[Pair]) -> Option<Found<Party>> {
    if let Some(s) = sign_off(rows) {
        let mut found: Option<(usize, Party)> = None;
        for (i, row) in rows.iter().enumerate().skip(s + 1).take(8) {
            let text = row.text();
            if text.trim().is_empty() {
                continue;
            }
            match &mut found {
                None => {
                    if let Some((t, g, f)) = person_line(&text) {
                        let mut p = party(t, g, f);
                        p.provider_number = provider_number(&text);
                        found = Some((i, p));
                    } else if found.is_none() && i > s + 3 {
                        break;
                    }
                }
                Some((_, p)) => {
                    if p.provider_number.is_none() {
                        p.provider_number = provider_number(&text);
                    }
                }
            }
        }
        if let Some((i, p)) = found {
            return Some(Found::new(p, letter_source(&rows[i], "signature")));
        }
    }
    pairs
        .iter()
        .filter(|p| p.kind == Label::Party(Role::Author))
        .find_map(|p| {
            let (t, g, f) = person_line(&p.value)?;
            let mut party = party(t, g, f);
            party.provider_number = provider_number(&p.value);
            Some(Found::new(party, letter_source(&rows[p.row], &p.label)))
        })
}

/// Salutations that name no one.
const GENERIC: [&str; 8] = [
    "colleague",
    "doctor",
    "dr",
    "sir",
    "sir/madam",
    "sir or madam",
    "madam",
    "all",
];

/// The recipient: the address block above "Dear …" when the salutation
/// names its person ("Dear Richard" + "Dr Richard Hollingsworth"), else a
/// "To:"/"GP:" line, else the salutation's own title and family name.
pub(super) fn recipient(rows: &[Row], pairs: &[Pair]) -> Option<Found<Party>> {
    let greeting = salutation(rows);
    let called: Vec<String> = greeting
        .as_ref()
        .map(|(_, g)| {
            let (_, rest) = strip_title(g);
            rest.split_whitespace().map(fold).collect()
        })
        .unwrap_or_default();
    let generic = greeting
        .as_ref()
        .is_some_and(|(_, g)| GENERIC.contains(&g.to_lowercase().as_str()));
    let matches = |p: &Party| {
        generic
            || called.iter().any(|w| {
                p.family_name.as_deref().map(fold).as_deref() == Some(w.as_str())
                    || p.given_names
                        .as_deref()
                        .and_then(|g| g.split_whitespace().next())
                        .map(fold)
                        .as_deref()
                        == Some(w.as_str())
            })
    };
    // The address block: a block above the salutation that opens with a
    // titled name.
    if let Some((at, _)) = &greeting {
        let mut block_start = None;
        for i in (0..*at).rev().take(20) {
            let row = &rows[i];
            let first_of_block = i == 0 || rows[i - 1].block != row.block;
            if !first_of_block {
                continue;
            }
            let text = row.text();
            if let Some((t, g, f)) = person_line(&text)
                && t.is_some()
            {
                let mut p = party(t, g, f);
                if matches(&p) {
                    p.provider_number = rows[i..*at]
                        .iter()
                        .take_while(|r| r.block == row.block)
                        .find_map(|r| provider_number(&r.text()));
                    block_start = Some((i, p));
                    break;
                }
            }
        }
        if let Some((i, p)) = block_start {
            return Some(Found::new(p, letter_source(&rows[i], "address block")));
        }
    }
    let labelled = pairs
        .iter()
        .filter(|p| p.kind == Label::Party(Role::Recipient))
        .find_map(|p| {
            let (t, g, f) = person_line(&p.value)?;
            let mut party = party(t, g, f);
            party.provider_number = provider_number(&p.value);
            (greeting.is_none() || generic || matches(&party))
                .then(|| Found::new(party, letter_source(&rows[p.row], &p.label)))
        });
    if labelled.is_some() {
        return labelled;
    }
    // "Dear Dr Müller": a title and a family name.
    let (at, g) = greeting?;
    let (title, given, family) = split_person(&g);
    let title = title?;
    let family = family?;
    (!generic).then(|| {
        Found::new(
            Party {
                title: Some(title),
                given_names: given,
                family_name: Some(family),
                ..Default::default()
            },
            letter_source(&rows[at], "Dear"),
        )
    })
}
