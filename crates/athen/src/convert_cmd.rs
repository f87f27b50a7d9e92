//! `athen convert FILE --to FORMAT`: reads a letter (.txt, .html) or a
//! whole message (.eml) and prints what was found as JSON
//! (docs/clinical-json.md), or writes an import file.

use athen_clinical::convert::{self, InputKind};
use athen_clinical::date::Date;
use athen_clinical::extract::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
#[command(after_long_help = "\
EXIT CODES:
  0  done (with --to json, also when conversion is not possible: see \"not_possible\")
  1  the file could not be read or written
  2  the input or the options are not accepted

EXAMPLE:
  athen convert referral.eml --to json")]
pub struct ConvertArgs {
    /// The letter: .eml (a whole message), .txt or .html.
    file: PathBuf,
    /// What to produce.
    #[arg(long, value_enum)]
    to: Format,
    /// Today's date (yyyy-mm-dd) for checking dates of birth; default: today.
    #[arg(long)]
    today: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// What was found: patient, letter date, author, recipient, problems.
    Json,
    /// PIT (Medical Director, Best Practice, Genie).
    Pit,
    /// PIT with the letter as RTF.
    PitRtf,
    /// HL7 v2 ORU^R01.
    Hl7Oru,
    /// HL7 v2 REF^I12.
    Hl7Ref,
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
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let today = match &args.today {
        Some(t) => match Date::parse(t, 9999) {
            Ok(d) => d,
            Err(e) => return fail(2, format!("--today: {e}")),
        },
        None => convert::today(now),
    };
    let ctx = Context {
        today,
        author: None,
        recipient: None,
        sent: None,
    };
    let result = convert::convert(kind, &bytes, &ctx);
    match args.to {
        Format::Json => match serde_json::to_string_pretty(&result) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, e.to_string()),
        },
        Format::Pit | Format::PitRtf | Format::Hl7Oru | Format::Hl7Ref => fail(
            2,
            "this output format is not in this version yet (issue 4); --to json works".into(),
        ),
    }
}
