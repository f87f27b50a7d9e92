//! The shape an import file must have whatever the letter said: the
//! segments of an HL7 message, the line codes of a PIT file. The property
//! tests and the `import_files` fuzz target hold every file the writers
//! make against these; a letter that could add a segment or a line (a
//! second PID, an OBX, a `100` line of another patient) fails here.

use super::hl7::{Endpoints, Kind, Profile};
use super::{Job, Letter, hl7, pit};
use crate::extract::Extraction;

/// Writes the letter in every HL7 kind and profile and both PIT forms and
/// holds each file to its shape; the first that breaks it, and why. A
/// format that is "not possible" for this letter is an error only when
/// `must_write`.
pub fn check_every_format(
    letter: Letter<'_>,
    job: &Job,
    endpoints: &Endpoints,
    must_write: bool,
) -> Result<(), String> {
    let x = letter.extraction;
    for kind in [Kind::Oru, Kind::Ref] {
        for profile in [Profile::Adrm2021, Profile::As4700] {
            match hl7::write(letter, job, kind, profile, endpoints, false) {
                Ok(out) => {
                    let names = hl7_segment_names(&out.bytes)?;
                    if names != hl7_segments(kind, false) {
                        return Err(format!("{kind:?} {profile:?} has segments {names:?}"));
                    }
                }
                Err(why) if must_write => return Err(why),
                Err(_) => {}
            }
        }
    }
    for rtf in [false, true] {
        match pit::write(letter, job, rtf) {
            Ok(out) => {
                let codes = pit_line_codes(&out.bytes, rtf)?;
                if !pit_codes_match(&codes, x) {
                    return Err(format!("PIT (rtf {rtf}) has lines {codes:?}"));
                }
            }
            Err(why) if must_write => return Err(why),
            Err(_) => {}
        }
    }
    Ok(())
}

/// The segment names an HL7 file of `kind` has, in order.
pub fn hl7_segments(kind: Kind, pdf: bool) -> Vec<&'static str> {
    let obx: &[&str] = if pdf { &["OBX", "OBX"] } else { &["OBX"] };
    let mut out = Vec::new();
    match kind {
        Kind::Oru => {
            out.extend(["MSH", "PID", "PV1", "ORC", "OBR"]);
            out.extend(obx);
        }
        Kind::Ref => {
            out.extend(["MSH", "RF1", "PRD", "PRD", "PID", "OBR"]);
            out.extend(obx);
            out.push("PV1");
        }
    }
    out
}

/// The segment names of an HL7 file, after checking that it is printable
/// ASCII with segments ended by CR (and nothing else).
pub fn hl7_segment_names(bytes: &[u8]) -> Result<Vec<String>, String> {
    if bytes.last() != Some(&b'\r') {
        return Err("the file does not end with CR".into());
    }
    let mut names = Vec::new();
    for segment in bytes[..bytes.len() - 1].split(|b| *b == b'\r') {
        if let Some(b) = segment.iter().find(|b| !(0x20..0x7f).contains(*b)) {
            return Err(format!("a segment holds the byte {b:#04x}"));
        }
        let name = segment
            .get(..3)
            .ok_or("a segment is shorter than its name")?;
        if segment.len() > 3 && segment[3] != b'|' {
            return Err("a segment name is not followed by |".into());
        }
        names.push(String::from_utf8_lossy(name).into_owned());
    }
    Ok(names)
}

/// The line codes a PIT file for `x` has, in order (the body's 301 lines
/// counted once; a letter with no text has none).
pub fn pit_codes(x: &Extraction) -> Vec<&'static str> {
    let p = &x.patient;
    let mut out = vec!["001", "002", "003", "009", "100"];
    if p.address.is_some() {
        out.push("101");
    }
    out.push("104");
    if p.phone.is_some() {
        out.push("105");
    }
    out.extend(["110", "111"]);
    if p.medicare.is_some() {
        out.push("112");
    }
    if x.author.is_some() {
        out.push("121");
    }
    out.extend([
        "123", "129", "200", "204", "205", "206", "207", "208", "209", "301", "390", "399", "999",
    ]);
    out
}

/// Whether `codes` (from [`pit_line_codes`]) are those of a PIT file for
/// `x`.
pub fn pit_codes_match(codes: &[String], x: &Extraction) -> bool {
    let expected = pit_codes(x);
    let without_body = expected.iter().filter(|c| **c != "301");
    codes
        .iter()
        .map(String::as_str)
        .eq(expected.iter().copied())
        || codes.iter().map(String::as_str).eq(without_body.copied())
}

/// The line codes of a PIT file (consecutive 301 lines as one), after
/// checking that every line is printable ASCII ended by CR LF, starts with
/// three digits and a space, has `~` only in markup, and (unless `rtf`) fits in 80 columns.
pub fn pit_line_codes(bytes: &[u8], rtf: bool) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the file is not ASCII")?;
    let body = text
        .strip_suffix("\r\n")
        .ok_or("the file does not end with CR LF")?;
    let mut codes: Vec<String> = Vec::new();
    for line in body.split("\r\n") {
        if let Some(b) = line.bytes().find(|b| !(0x20..0x7f).contains(b)) {
            return Err(format!("a line holds the byte {b:#04x}"));
        }
        let code = line.get(..3).ok_or("a line is shorter than its code")?;
        if !code.bytes().all(|b| b.is_ascii_digit()) || (line.len() > 3 && &line[3..4] != " ") {
            return Err(format!("a line does not start with a code: {:.20}", line));
        }
        if !rtf && line.len() > 80 {
            return Err(format!("line {code} is {} columns", line.len()));
        }
        // `~` only as the markup the writer uses (it has no escape).
        let markup = ["SBLD", "EBLD", "SUND", "EUND", "SBLDSUND", "EBLDEUND"];
        let pieces: Vec<&str> = line.split('~').collect();
        if pieces.len().is_multiple_of(2)
            || pieces
                .iter()
                .skip(1)
                .step_by(2)
                .any(|m| rtf || !markup.contains(m))
        {
            return Err(format!("line {code} holds a ~ that is not markup"));
        }
        if code == "301" && codes.last().map(String::as_str) == Some("301") {
            continue;
        }
        codes.push(code.to_string());
    }
    Ok(codes)
}
