//! The letter's date, its author (the signature block, or a "Reported by:"
//! line) and its recipient (the salutation joined with the address block
//! above it, or a "To:"/"GP:" line).

use super::names::{fold, person_line, split_person, strip_title};
use super::rows::{Label, Role, Row, Text};
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
pub(super) fn letter_date(text: &Text, today: Date, sent: Option<Date>) -> Option<Found<Date>> {
    let rows = &text.rows;
    let labelled = text.pairs.iter().find_map(|p| {
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

/// The person a line names, with a provider number the line gives.
fn named(line: &str) -> Option<Party> {
    let (title, given_names, family) = person_line(line)?;
    Some(Party {
        title,
        given_names,
        family_name: Some(family),
        provider_number: provider_number(line),
        ..Default::default()
    })
}

/// The first line labelled as this party's ("Reported by:", "GP:") that
/// names a person `accept` takes.
fn labelled(text: &Text, role: Role, accept: impl Fn(&Party) -> bool) -> Option<Found<Party>> {
    text.pairs
        .iter()
        .filter(|p| p.kind == Label::Party(role))
        .find_map(|p| {
            let party = named(&p.value).filter(&accept)?;
            Some(Found::new(
                party,
                letter_source(&text.rows[p.row], &p.label),
            ))
        })
}

/// The author: a name in the four lines under the sign-off, with a
/// provider number from it or the lines below; else a "Reported by:" line.
pub(super) fn author(text: &Text) -> Option<Found<Party>> {
    let rows = &text.rows;
    let signed = sign_off(rows).and_then(|s| {
        let (at, mut party) = (s + 1..rows.len())
            .take(4)
            .find_map(|i| named(rows[i].text()).map(|p| (i, p)))?;
        if party.provider_number.is_none() {
            party.provider_number = rows
                .iter()
                .take(s + 9)
                .skip(at + 1)
                .find_map(|r| provider_number(r.text()));
        }
        Some(Found::new(party, letter_source(&rows[at], "signature")))
    });
    signed.or_else(|| labelled(text, Role::Author, |_| true))
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
pub(super) fn recipient(text: &Text) -> Option<Found<Party>> {
    let rows = &text.rows;
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
    // titled name the salutation calls by.
    if let Some((at, _)) = &greeting {
        let block = (0..*at).rev().take(20).find_map(|i| {
            let first_of_block = i == 0 || rows[i - 1].block != rows[i].block;
            let party = named(rows[i].text()).filter(|p| p.title.is_some() && matches(p));
            first_of_block.then_some(party).flatten().map(|p| (i, p))
        });
        if let Some((i, mut party)) = block {
            party.provider_number = party.provider_number.or_else(|| {
                rows[i..*at]
                    .iter()
                    .take_while(|r| r.block == rows[i].block)
                    .find_map(|r| provider_number(r.text()))
            });
            return Some(Found::new(party, letter_source(&rows[i], "address block")));
        }
    }
    let labelled = labelled(text, Role::Recipient, |p| {
        greeting.is_none() || generic || matches(p)
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
