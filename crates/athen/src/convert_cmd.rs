//! `athen convert FILE --to FORMAT`: reads a letter (.txt, .html) or a
//! whole message (.eml) and prints what was found as JSON
//! (docs/clinical-json.md), or writes an import file.

use athen_clinical::convert::{self, InputKind};
use athen_clinical::date::Date;
use athen_clinical::extract::Context;
use athen_clinical::patient::Party;
use athen_clinical::write::{self, Job, Letter, Stamp, hl7};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
#[command(after_long_help = "\
EXIT CODES:
  0  done (with --to json, also when conversion is not possible: see \"not_possible\")
  1  the file could not be read or written
  2  the input or the options are not accepted
  4  no import file can be made: the reason (\"not possible, because …\") is printed

EXAMPLES:
  athen convert referral.eml --to json
  athen convert referral.eml --to hl7-oru --recipient 'Dr Anna Müller' \
      --recipient-provider-number 4322581B --out /tmp/ --run-number 42")]
pub struct ConvertArgs {
    /// The letter: .eml (a whole message), .txt, .html, .rtf or .docx.
    file: PathBuf,
    /// What to produce: `json`, or delivery formats in order of preference,
    /// comma-separated; the first that can be made is written: `pit`,
    /// `pit-rtf`, `hl7-oru`, `hl7-ref` (HL7 ones may add `:as4700` or
    /// `:adrm2021`), e.g. `hl7-ref,hl7-oru,pit`.
    #[arg(long)]
    to: String,
    /// Today's date (yyyy-mm-dd) for checking dates of birth; default: today.
    #[arg(long)]
    today: Option<String>,
    /// HL7 profile.
    #[arg(long, value_enum, default_value = "adrm2021")]
    profile: ProfileArg,
    /// The recipient as the directory names them, e.g. "Dr Anna Müller".
    #[arg(long)]
    recipient: Option<String>,
    /// The recipient's Medicare provider number (PIT line 123, HL7 PV1-9 and
    /// PRD-7; REF^I12 needs it).
    #[arg(long)]
    recipient_provider_number: Option<String>,
    /// The author (sender) as the directory names them.
    #[arg(long)]
    author: Option<String>,
    /// The author's Medicare provider number (HL7 OBR-16, PRD-7).
    #[arg(long)]
    author_provider_number: Option<String>,
    /// The sender's organisation (PIT heading, HL7 MSH-4).
    #[arg(long)]
    organisation: Option<String>,
    /// Run (file) number, 1–9999: part of the 8.3 file name.
    #[arg(long, default_value_t = 1)]
    run_number: u32,
    /// The zone of the timestamps written, e.g. +10:00 (they always carry
    /// it, so the default UTC is never wrong, only less familiar).
    #[arg(long, default_value = "+00:00")]
    utc_offset: String,
    /// The time to write into the file (yyyy-mm-ddThh:mm:ss, in the
    /// --utc-offset zone) [default: now]; for files that must come out the
    /// same every time.
    #[arg(long)]
    now: Option<String>,
    /// HL7: leave out the PDF display (the FT text display alone).
    #[arg(long)]
    no_pdf: bool,
    /// Where to write the file: a directory (the file keeps its 8.3 name)
    /// or a file name [default: the current directory].
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    /// HL7 Australia ADRM 2021, v2.4.
    Adrm2021,
    /// AS 4700, v2.3.1.
    As4700,
}

fn party(name: &Option<String>, provider_number: &Option<String>) -> Result<Option<Party>, String> {
    if name.is_none() && provider_number.is_none() {
        return Ok(None);
    }
    let (title, given, family) = name
        .as_deref()
        .map(athen_clinical::extract::split_person)
        .unwrap_or((None, None, None));
    let provider_number = provider_number
        .as_deref()
        .map(|p| {
            athen_core::identifiers::provider_number(p)
                .map_err(|e| format!("provider number {p:?}: {}", e.reason))
        })
        .transpose()?;
    Ok(Some(Party {
        title,
        given_names: given,
        family_name: family,
        provider_number,
        ..Default::default()
    }))
}

/// `yyyy-mm-ddThh:mm:ss` in a zone `offset` minutes east of UTC, to Unix time.
fn local_time(text: &str, offset: i16) -> Result<i64, String> {
    let bad = || format!("--now {text:?}: write it as 2026-11-24T10:15:00");
    let (date, time) = text.split_once('T').ok_or_else(bad)?;
    let date = Date::parse(date, 9999).map_err(|_| bad())?;
    let parts: Vec<i64> = time
        .split(':')
        .map(|p| p.parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let [h, m, sec] = parts[..] else {
        return Err(bad());
    };
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&sec) {
        return Err(bad());
    }
    Ok(date.days_since_epoch() * 86_400 + h * 3600 + m * 60 + sec - i64::from(offset) * 60)
}

/// "+10:00", "-03:30", "+1000", "Z" to minutes east of UTC.
fn offset_minutes(s: &str) -> Result<i16, String> {
    if s == "Z" {
        return Ok(0);
    }
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(format!("--utc-offset {s:?}: write it as +10:00")),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("--utc-offset {s:?}: write it as +10:00"));
    }
    let h: i16 = digits[..2].parse().unwrap_or(99);
    let m: i16 = digits[2..].parse().unwrap_or(99);
    if h > 14 || m > 59 {
        return Err(format!("--utc-offset {s:?} is not a time zone"));
    }
    Ok(sign * (h * 60 + m))
}

fn fail(code: u8, message: String) -> ExitCode {
    eprintln!("athen convert: {message}");
    ExitCode::from(code)
}

pub fn run(args: ConvertArgs) -> ExitCode {
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => return fail(1, format!("cannot read {}: {e}", args.file.display())),
    };
    let name = args.file.to_string_lossy();
    let kind: InputKind = match convert::input_kind(&name, &bytes) {
        Ok(k) => k,
        Err(e) => return fail(2, e),
    };
    let offset = match offset_minutes(&args.utc_offset) {
        Ok(o) => o,
        Err(e) => return fail(2, e),
    };
    let now = match &args.now {
        Some(text) => match local_time(text, offset) {
            Ok(t) => t,
            Err(e) => return fail(2, e),
        },
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    let today = match &args.today {
        Some(t) => match Date::parse(t, 9999) {
            Ok(d) => d,
            Err(e) => return fail(2, format!("--today: {e}")),
        },
        None => convert::today(now),
    };
    let (author, recipient) = match (
        party(&args.author, &args.author_provider_number),
        party(&args.recipient, &args.recipient_provider_number),
    ) {
        (Ok(mut a), Ok(r)) => {
            if let (Some(a), Some(org)) = (&mut a, &args.organisation) {
                a.organisation = Some(org.clone());
            }
            (a, r)
        }
        (Err(e), _) | (_, Err(e)) => return fail(2, e),
    };
    let ctx = Context {
        today,
        author,
        recipient,
        sent: None,
    };
    let result = convert::convert(kind, &bytes, &ctx);
    if args.to.trim().eq_ignore_ascii_case("json") {
        return match serde_json::to_string_pretty(&result) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, e.to_string()),
        };
    }
    let default_profile = match args.profile {
        ProfileArg::Adrm2021 => "adrm2021",
        ProfileArg::As4700 => "as4700",
    };
    let formats: Vec<write::Format> = match args
        .to
        .split(',')
        .map(|f| {
            let f = f.trim();
            if f.starts_with("hl7") && !f.contains(':') {
                write::Format::parse(&format!("{f}:{default_profile}"))
            } else {
                write::Format::parse(f)
            }
        })
        .collect()
    {
        Ok(f) => f,
        Err(e) => return fail(2, format!("--to: {e}")),
    };
    let sender = args
        .organisation
        .clone()
        .or(args.author.clone())
        .unwrap_or_else(|| "ATHEN".into());
    let job = Job {
        now: Stamp::from_unix(now, offset),
        run_number: args.run_number,
        sender_initials: write::initials(&sender),
        control_id: format!("ATHEN{now}{:04}", args.run_number % 10_000),
        local_patient_id: None,
    };
    let letter = Letter {
        extraction: &result.extraction,
        body: &result.body,
        original_pdf: result.original_pdf.as_deref(),
    };
    let endpoints = hl7::Endpoints {
        sending_facility: sender,
        ..Default::default()
    };
    let output = match write::first_that_works(&formats, letter, &job, &endpoints, !args.no_pdf) {
        Ok((used, output, refused)) => {
            for (f, why) in refused {
                eprintln!("athen convert: {} not made: {why}", f.name());
            }
            eprintln!("athen convert: wrote {}", used.name());
            output
        }
        // Not possible: the mail would go unchanged; say why.
        Err(refused) => {
            let reasons: Vec<String> = refused
                .iter()
                .map(|(f, why)| format!("{}: {why}", f.name()))
                .collect();
            return fail(4, reasons.join("; "));
        }
    };
    let path = match &args.out {
        Some(p) if p.is_dir() => p.join(&output.file_name),
        Some(p) => p.clone(),
        None => PathBuf::from(&output.file_name),
    };
    match std::fs::write(&path, &output.bytes) {
        Ok(()) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, format!("cannot write {}: {e}", path.display())),
    }
}
