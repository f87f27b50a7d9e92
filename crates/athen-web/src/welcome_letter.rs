//! The welcome letter posted to each new account: the proof that the
//! practice really is at the street address it gave. One A4 page each,
//! folded in three for a DL window envelope, so the postal address sits
//! where the window is (Australia Post's DL window: 20 mm from the left,
//! 45–90 mm from the top of the sheet as folded; we place the address block
//! inside 22–110 mm across and 48–80 mm down).

use athen_clinical::write::pdf::{PlacedLine, placed_pages};
use athen_core::account::AccountKind;
use athen_core::directory::{Category, DirectoryEntry};

/// What one letter says.
pub struct WelcomeLetterText<'a> {
    pub kind: AccountKind,
    pub entry: &'a DirectoryEntry,
    /// The account's mail address (also its sign-in name).
    pub address: &'a str,
    pub code: &'a str,
    /// The web address where the code is entered, e.g. `https://athen.example/confirm`.
    pub confirm_url: &'a str,
    /// The date printed on the letter, e.g. "1 December 2026".
    pub date: &'a str,
    /// The server's name in the letterhead.
    pub server: &'a str,
}

/// Who the letter is addressed to: a practice's manager, a person by name
/// (athen-original.md, "Registration").
fn addressee(l: &WelcomeLetterText<'_>) -> Vec<String> {
    let d = &l.entry.details;
    let mut lines = Vec::new();
    match l.kind {
        AccountKind::Organisation => {
            lines.push(
                match d.category {
                    Some(Category::GeneralPractice) | Some(Category::SpecialistRooms) | None => {
                        "The Practice Manager"
                    }
                    _ => "The IT Manager",
                }
                .to_string(),
            );
            lines.push(d.organisation_name.clone().unwrap_or_default());
        }
        AccountKind::Individual => lines.push(l.entry.details.display_name()),
    }
    lines.extend(
        d.street
            .iter()
            .flat_map(|s| s.split(',').map(|p| p.trim().to_string())),
    );
    lines.push(
        [
            d.suburb.as_deref().map(str::to_uppercase),
            d.state.map(|s| s.code().to_string()),
            d.postcode.clone(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("  "),
    );
    lines.retain(|l| !l.trim().is_empty());
    lines.truncate(7);
    lines
}

fn line(x: f32, y: f32, size: f32, bold: bool, text: impl Into<String>) -> PlacedLine {
    PlacedLine {
        x_mm: x,
        y_mm: y,
        size,
        bold,
        text: text.into(),
    }
}

fn page(l: &WelcomeLetterText<'_>) -> Vec<PlacedLine> {
    let mut out = vec![
        line(20.0, 20.0, 16.0, true, "ATHEN"),
        line(20.0, 26.0, 9.0, false, "Secure clinical messaging"),
        line(20.0, 31.0, 9.0, false, l.server),
        line(150.0, 26.0, 10.0, false, l.date),
    ];
    let mut y = 52.0;
    for a in addressee(l) {
        out.push(line(22.0, y, 11.0, false, a));
        y += 5.0;
    }
    let name = match l.kind {
        AccountKind::Organisation => "your practice",
        AccountKind::Individual => "you",
    };
    let mut y = 110.0;
    // One line down the page, its height from its size (points to mm, with leading).
    fn para(out: &mut Vec<PlacedLine>, y: &mut f32, text: &str, bold: bool, size: f32) {
        out.push(line(20.0, *y, size, bold, text));
        *y += size * 0.5;
    }
    para(&mut out, &mut y, "Welcome to ATHEN", true, 14.0);
    y += 3.0;
    for t in [
        format!("An ATHEN account was registered for {name} with the address"),
        l.address.to_string(),
        "To finish, please confirm that this letter reached you: this shows other providers".into(),
        "that the account really belongs at this street address.".into(),
    ] {
        para(&mut out, &mut y, &t, false, 11.0);
    }
    y += 6.0;
    para(&mut out, &mut y, "Your confirmation code", true, 12.0);
    y += 2.0;
    // Grouped in fives for reading aloud; the form takes it with or without spaces.
    let grouped: String = l
        .code
        .chars()
        .collect::<Vec<_>>()
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ");
    para(&mut out, &mut y, &grouped, true, 20.0);
    y += 6.0;
    para(&mut out, &mut y, "How to confirm", true, 12.0);
    y += 1.0;
    for t in [
        format!("1. Open {} in a web browser.", l.confirm_url),
        format!(
            "2. Enter your ATHEN address ({}) and the code above.",
            l.address
        ),
        "3. Press Confirm. You are then listed in the ATHEN directory.".into(),
    ] {
        para(&mut out, &mut y, &t, false, 11.0);
    }
    y += 6.0;
    for t in [
        "If nobody at this address registered for ATHEN, please ignore this letter: without",
        "the code the account stays unconfirmed and is closed after a few weeks.",
        "Keep the recovery code shown at registration safe; this letter does not replace it.",
    ] {
        para(&mut out, &mut y, t, false, 9.5);
    }
    out
}

/// One PDF with a page for each letter, to print and post in one go.
/// `at` dates the document.
pub fn letters_pdf(
    letters: &[WelcomeLetterText<'_>],
    at: athen_core::clock::UnixTime,
) -> Result<Vec<u8>, String> {
    if letters.is_empty() {
        return Err("there are no letters to print".into());
    }
    let pages: Vec<Vec<PlacedLine>> = letters.iter().map(page).collect();
    placed_pages("ATHEN welcome letters", ymd(at), &pages)
}

/// A batch printed: the PDF, and which accounts' letters it holds.
pub struct PrintedBatch {
    pub pdf: Vec<u8>,
    pub accounts: Vec<athen_core::account::Account>,
}

/// Every letter waiting to be posted (and those posted already, if
/// `with_posted`), as one PDF. `None` if there are none.
pub async fn print_waiting(
    store: &dyn athen_core::store::MetadataStore,
    key: &athen_vault::QueueKey,
    with_posted: bool,
    confirm_url: &str,
    server: &str,
    at: athen_core::clock::UnixTime,
) -> Result<Option<PrintedBatch>, String> {
    let date = letter_date(at);
    let date = date.as_str();
    let letters = store
        .welcome_letters(with_posted)
        .await
        .map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    for l in &letters {
        let Some(account) = store
            .account(l.account_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        let Some(entry) = store
            .entry(account.entry_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        let code = athen_vault::accounts::welcome_letter_code(key, l).map_err(|e| e.to_string())?;
        found.push((account, entry, code));
    }
    if found.is_empty() {
        return Ok(None);
    }
    let texts: Vec<WelcomeLetterText<'_>> = found
        .iter()
        .map(|(a, e, code)| WelcomeLetterText {
            kind: a.kind,
            entry: e,
            address: &a.address,
            code,
            confirm_url,
            date,
            server,
        })
        .collect();
    let pdf = letters_pdf(&texts, at)?;
    Ok(Some(PrintedBatch {
        pdf,
        accounts: found.into_iter().map(|(a, _, _)| a).collect(),
    }))
}

/// Year, month and day (UTC) of `at`.
fn ymd(at: athen_core::clock::UnixTime) -> (u16, u8, u8) {
    let iso = athen_core::clock::rfc3339(at);
    let year = iso.get(0..4).and_then(|p| p.parse::<u16>().ok());
    let small = |r: std::ops::Range<usize>| iso.get(r).and_then(|p| p.parse::<u8>().ok());
    (
        year.unwrap_or(1970),
        small(5..7).unwrap_or(1).clamp(1, 12),
        small(8..10).unwrap_or(1).clamp(1, 31),
    )
}

/// The date as printed on letters: "1 December 2026".
pub fn letter_date(at: athen_core::clock::UnixTime) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (y, m, d) = ymd(at);
    format!("{d} {} {y}", MONTHS[usize::from(m) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_are_dated_in_words() {
        assert_eq!(letter_date(1_796_083_200), "1 December 2026");
    }
}
