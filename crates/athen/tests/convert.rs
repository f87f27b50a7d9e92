//! `athen convert`: real letter files through the real binary.

mod common;
use common::*;
use serde_json::Value;

fn letter(name: &str) -> String {
    format!("{}/tests/letters/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn convert_json(file: &str) -> Value {
    let out = run(
        &["convert", file, "--to", "json", "--today", "2026-11-24"],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn a_text_referral_gives_its_patient_author_and_recipient() {
    let v = convert_json(&letter("referral.txt"));
    assert_eq!(v["schema"], "athen.convert.v1");
    assert_eq!(v["input"], "text");
    let p = &v["patient"];
    assert_eq!(p["family_name"]["value"], "O'BRIEN");
    assert_eq!(p["given_names"]["value"], "Seán");
    assert_eq!(p["title"]["value"], "Mr");
    assert_eq!(p["birth_date"]["value"], "1960-02-01");
    assert_eq!(p["birth_date"]["source"]["line"], 14);
    assert_eq!(p["birth_date"]["confidence"], "medium");
    assert_eq!(p["address"]["value"]["state"], "NSW");
    assert_eq!(p["medicare"]["value"]["number"], "2123456701");
    assert_eq!(p["phone"]["value"], "0412345678");
    assert_eq!(v["letter_date"]["value"], "2026-11-24");
    assert_eq!(v["author"]["value"]["provider_number"], "2426621B");
    assert_eq!(v["recipient"]["value"]["family_name"], "Müller");
    assert_eq!(v["problems"], serde_json::json!([]));
    assert!(v.get("not_possible").is_none());
}

#[test]
fn an_html_letter_with_a_table_and_a_bad_medicare_number() {
    let v = convert_json(&letter("referral.html"));
    assert_eq!(v["input"], "html");
    assert_eq!(v["patient"]["family_name"]["value"], "SMITH-JONES");
    assert_eq!(v["patient"]["birth_date"]["value"], "1975-04-03");
    assert!(v["patient"].get("medicare").is_none(), "failed its check");
    assert_eq!(v["problems"][0]["field"], "patient.medicare");
    assert_eq!(v["problems"][0]["found"], "2123 45671 1");
    assert!(
        v["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("check digit")
    );
}

#[test]
fn an_rtf_letter_with_a_details_table() {
    let v = convert_json(&letter("referral.rtf"));
    assert_eq!(v["input"], "rtf");
    let p = &v["patient"];
    assert_eq!(p["family_name"]["value"], "NGUYỄN");
    assert_eq!(p["given_names"]["value"], "Thi Lan");
    assert_eq!(p["birth_date"]["value"], "1975-04-03");
    assert_eq!(p["sex"]["value"], "F");
    assert_eq!(v["recipient"]["value"]["family_name"], "Müller");
    assert_eq!(v["author"]["value"]["provider_number"], "2426621B");
    assert_eq!(v["letter_date"]["value"], "2026-11-24");
}

#[test]
fn a_docx_letter_and_a_broken_one() {
    use athen_clinical::read::docx::{document, package};
    let dir = tempfile::tempdir().unwrap();
    let docx = dir.path().join("referral.docx");
    std::fs::write(
        &docx,
        package(&document(
            r#"<w:p><w:r><w:t>24/11/2026</w:t></w:r></w:p><w:p><w:r><w:t xml:space="preserve">Dear Dr M&#252;ller,</w:t></w:r></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Patient:</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>M&#220;LLER-SCHMIDT, Hans</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p><w:r><w:t>Date of birth:</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>5 March 1948</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
<w:p><w:r><w:t xml:space="preserve">He has </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>heart failure</w:t></w:r><w:r><w:t>.</w:t></w:r></w:p>
<w:p><w:r><w:t>Yours sincerely,</w:t></w:r></w:p><w:p><w:r><w:t>Dr Peter Smith</w:t></w:r></w:p><w:p><w:r><w:t>Provider No: 2426621B</w:t></w:r></w:p>"#,
        )),
    )
    .unwrap();
    let v = convert_json(docx.to_str().unwrap());
    assert_eq!(v["input"], "docx");
    assert_eq!(v["patient"]["family_name"]["value"], "MÜLLER-SCHMIDT");
    assert_eq!(v["patient"]["birth_date"]["value"], "1948-03-05");
    assert_eq!(v["author"]["value"]["provider_number"], "2426621B");
    let path = dir.path().join("docx.hl7");
    let out = write_file_with(
        docx.to_str().unwrap(),
        "hl7-oru",
        "adrm2021",
        &path,
        &["--no-pdf"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    hl7_validate(&path);

    let broken = dir.path().join("broken.docx");
    std::fs::write(&broken, b"PK\x03\x04 truncated").unwrap();
    let v = convert_json(broken.to_str().unwrap());
    let why = v["not_possible"].as_str().unwrap();
    assert!(why.contains("not a DOCX"), "{why}");
}

#[test]
fn two_patients_are_not_possible_and_bad_files_are_refused() {
    let v = convert_json(&letter("two-patients.txt"));
    let why = v["not_possible"].as_str().unwrap();
    assert!(why.starts_with("not possible, because"), "{why}");
    assert!(why.contains("SMITH") && why.contains("BROWN"), "{why}");

    let out = run(&["convert", "/nonexistent.txt", "--to", "json"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let out = run(
        &[
            "convert",
            &letter("referral.txt"),
            "--to",
            "json",
            "--today",
            "soon",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
}

fn write_file(file: &str, to: &str, profile: &str, out: &std::path::Path) -> std::process::Output {
    write_file_with(file, to, profile, out, &[])
}

fn write_file_with(
    file: &str,
    to: &str,
    profile: &str,
    out: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "convert",
        file,
        "--to",
        to,
        "--profile",
        profile,
        "--today",
        "2026-11-24",
        "--recipient",
        "Dr Anna Müller",
        "--recipient-provider-number",
        "4322581B",
        "--organisation",
        "Northside Medical Centre",
        "--run-number",
        "42",
        "--utc-offset",
        "+11:00",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args, "")
}

#[test]
fn hl7_letters_validate_with_hl7apy_and_read_back() {
    use athen_clinical::write::hl7::Parsed;
    let dir = tempfile::tempdir().unwrap();
    for (letter_file, family, dob, phrase) in [
        (
            "referral.txt",
            "O'BRIEN",
            "19600201",
            "exertional chest pain",
        ),
        ("referral.html", "SMITH-JONES", "19750403", "asthma"),
        ("referral.rtf", "NGUYEN", "19750403", "diabetes"),
    ] {
        for (to, structure) in [("hl7-oru", "ORU^R01"), ("hl7-ref", "REF^I12")] {
            for (profile, version) in [("adrm2021", "2.4"), ("as4700", "2.3.1")] {
                let path = dir.path().join(format!("{letter_file}-{to}-{profile}.hl7"));
                // With the PDF display (validated with its data cut short,
                // see hl7_validate_with_pdf), then without (FT alone).
                let with_pdf = path.with_extension("pdf.hl7");
                let out = write_file(&letter(letter_file), to, profile, &with_pdf);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let report = hl7_validate_with_pdf(&with_pdf);
                assert!(report.contains(&format!("v{version}")), "{report}");
                let out = write_file_with(&letter(letter_file), to, profile, &path, &["--no-pdf"]);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let report = hl7_validate(&path);
                assert!(report.contains(&format!("v{version}")), "{report}");
                let raw = std::fs::read(&path).unwrap();
                assert!(raw.is_ascii() && raw.ends_with(b"\r") && !raw.contains(&b'\n'));
                let msg = Parsed::parse(std::str::from_utf8(&raw).unwrap()).unwrap();
                assert!(msg.field("MSH", 9).unwrap().starts_with(structure));
                assert!(msg.field("MSH", 12).unwrap().starts_with(version));
                assert!(msg.field("MSH", 7).unwrap().ends_with("+1100"));
                assert_eq!(msg.field("PID", 7).unwrap(), dob);
                assert!(
                    msg.field("PID", 5)
                        .unwrap()
                        .starts_with(&format!("{family}^"))
                );
                assert!(
                    msg.field("PV1", 9)
                        .unwrap()
                        .starts_with("4322581B^Muller^Anna")
                );
                let text = msg.field("OBX", 5).unwrap();
                assert!(text.contains(phrase), "{text}");
                let names = msg.names();
                let expected: &[&str] = if to == "hl7-oru" {
                    &["MSH", "PID", "PV1", "ORC", "OBR", "OBX"]
                } else {
                    &["MSH", "RF1", "PRD", "PRD", "PID", "OBR", "OBX", "PV1"]
                };
                assert_eq!(names, expected);
            }
        }
    }
}

#[test]
fn pit_files_and_not_possible() {
    let dir = tempfile::tempdir().unwrap();
    let out = write_file(&letter("referral.txt"), "pit", "adrm2021", dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.path().join("NMC00042.PIT");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        path.to_str().unwrap()
    );
    let pit = std::fs::read_to_string(&path).unwrap();
    assert!(pit.is_ascii());
    let lines: Vec<&str> = pit.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines.iter().all(|l| l.len() <= 80));
    assert!(lines.contains(&"100 Start Patient  :      O'BRIEN,Sean"));
    assert!(lines.iter().any(
        |l| l.starts_with("123 Addressee      :      Dr Anna Muller") && l.ends_with("4322581B")
    ));
    assert!(lines.iter().any(|l| l.contains("~SBLD~63 year old~EBLD~")));
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("999 END OF LISTING - Run Number:0042")
    );

    let out = write_file(
        &letter("referral.txt"),
        "pit-rtf",
        "adrm2021",
        &dir.path().join("x.pit"),
    );
    assert!(out.status.success());
    let pit = std::fs::read_to_string(dir.path().join("x.pit")).unwrap();
    assert!(pit.contains("\r\n301 {\\rtf1"));

    // An ordered list: REF needs the recipient's provider number, which the
    // letter alone ("Dear Dr Müller") does not give, so PIT is made instead.
    let out = run(
        &[
            "convert",
            &letter("referral.txt"),
            "--to",
            "hl7-ref,pit",
            "--today",
            "2026-11-24",
            "--out",
            dir.path().join("ordered.pit").to_str().unwrap(),
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("hl7-ref:adrm2021 not made: not possible, because a REF^I12 needs the recipient's provider number"), "{said}");
    assert!(said.contains("wrote pit"), "{said}");
    assert!(
        std::fs::read_to_string(dir.path().join("ordered.pit"))
            .unwrap()
            .starts_with("001 ")
    );
    let out = run(
        &["convert", &letter("referral.txt"), "--to", "hl7-fhir"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));

    let out = write_file(
        &letter("two-patients.txt"),
        "hl7-oru",
        "adrm2021",
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not possible, because"));
}

/// The PDF display, decoded from OBX-5 and read with poppler's tools.
fn pdf_of(hl7: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    let pdf = dir.join("display.pdf");
    python_script(
        "import base64, sys\n\
raw = open(sys.argv[1], newline='').read()\n\
seg = next(s for s in raw.split('\\r') if s.startswith('OBX|1|ED|PDF^'))\n\
open(sys.argv[2], 'wb').write(base64.b64decode(seg.split('|')[5].split('^')[4]))",
        &[hl7.to_str().unwrap(), pdf.to_str().unwrap()],
    );
    pdf
}

fn poppler(tool: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(tool)
        .args(args)
        .output()
        .expect("poppler-utils is installed by the test command");
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_pdf_display_is_pdf_a_with_embedded_fonts_and_the_letter_text() {
    use athen_clinical::write::hl7::Parsed;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oru.hl7");
    let out = write_file(&letter("referral.txt"), "hl7-oru", "adrm2021", &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = std::fs::read_to_string(&path).unwrap();
    let msg = Parsed::parse(&raw).unwrap();
    assert_eq!(
        msg.names(),
        ["MSH", "PID", "PV1", "ORC", "OBR", "OBX", "OBX"],
        "the PDF display, then the text display"
    );
    assert!(
        raw.contains(
            "OBX|1|ED|PDF^Display format in PDF^AUSPDI|1|^application^pdf^Base64^JVBERi0x"
        )
    );
    assert!(raw.contains("\rOBX|2|FT|TXT^Display format in text^AUSPDI|"));
    let pdf = pdf_of(&path, dir.path());
    let pdf = pdf.to_str().unwrap();
    let info = poppler("pdfinfo", &[pdf]);
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim_start_matches(':').trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(field("PDF version"), "1.4", "PDF/A-1: {info}");
    assert_eq!(field("Encrypted"), "no", "{info}");
    assert_eq!(field("Metadata Stream"), "yes", "PDF/A needs XMP: {info}");
    let fonts = poppler("pdffonts", &[pdf]);
    let font_lines: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!font_lines.is_empty());
    assert!(
        font_lines.iter().all(|l| l.contains(" yes yes ")),
        "embedded: {fonts}"
    );
    let text = poppler("pdftotext", &["-layout", pdf, "-"]);
    for needle in [
        "Patient: O'BRIEN, Seán born 01/02/1960",
        "Dear Dr Müller,",
        "exertional chest pain",
        "Provider No: 2426621B",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
}

#[test]
fn a_long_letter_flows_onto_more_pages() {
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.txt");
    let mut text = String::from("Re: NGUYỄN, Thi Lan\nDOB: 03/04/1975\n\n");
    for i in 0..120 {
        text.push_str(&format!("Paragraph {i}: the patient reports a long history that goes on for a while, as clinical histories do, with several medications listed.\n\n"));
    }
    std::fs::write(&long, text).unwrap();
    let path = dir.path().join("long.hl7");
    let out = write_file(long.to_str().unwrap(), "hl7-oru", "adrm2021", &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pdf = pdf_of(&path, dir.path());
    let info = poppler("pdfinfo", &[pdf.to_str().unwrap()]);
    let pages: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pages >= 5, "{info}");
    let text = poppler("pdftotext", &[pdf.to_str().unwrap(), "-"]);
    assert!(text.contains("NGUYỄN, Thi Lan"), "{text}");
    assert!(text.contains("Paragraph 119:"));
}

/// The test letters as files, including a DOCX made from WordprocessingML.
fn golden_inputs(dir: &std::path::Path) -> Vec<(String, String)> {
    use athen_clinical::read::docx::{document, package};
    let docx = dir.join("referral.docx");
    std::fs::write(
        &docx,
        package(&document(
            r#"<w:p><w:r><w:t>Southside Cardiology</w:t></w:r></w:p><w:p><w:r><w:t>24 November 2026</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Dear Dr M&#252;ller,</w:t></w:r></w:p>
<w:p><w:r><w:t>Re: Mrs Mary SMITH-JONES</w:t></w:r><w:r><w:br/><w:t>DOB: 2.3.41</w:t></w:r><w:r><w:br/><w:t>Medicare: 2123 45670 1 IRN 3</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Medicines</w:t></w:r></w:p>
<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>frusemide 40 mg mane</w:t></w:r></w:p>
<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>ramipril 5 mg daily</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Her </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>echocardiogram</w:t></w:r><w:r><w:t xml:space="preserve"> shows an ejection fraction of 35% | "moderate" ^ impairment &amp; mild MR ~ stable.</w:t></w:r></w:p>
<w:p><w:r><w:t>Kind regards,</w:t></w:r></w:p><w:p><w:r><w:t>Dr Peter Smith</w:t></w:r></w:p><w:p><w:r><w:t>Provider No: 2426621B</w:t></w:r></w:p>"#,
        )),
    )
    .unwrap();
    let mut inputs: Vec<(String, String)> = [
        "referral.txt",
        "referral.html",
        "referral.rtf",
        "letter-table.pdf",
        "letter-reportlab.pdf",
    ]
    .iter()
    .map(|n| (n.to_string(), letter(n)))
    .collect();
    inputs.push(("referral.docx".into(), docx.to_str().unwrap().into()));
    inputs
}

/// Golden files: the exact bytes ATHEN writes for each test letter, in
/// tests/golden/. After a deliberate change, `ATHEN_BLESS=1 cargo test
/// golden` writes them anew (then read the diff before committing).
#[test]
fn golden_pit_and_hl7_files() {
    let dir = tempfile::tempdir().unwrap();
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("ATHEN_BLESS").is_some();
    let mut checked = 0;
    for (name, path) in golden_inputs(dir.path()) {
        for (to, profile, suffix) in [
            ("pit", "adrm2021", "pit"),
            ("hl7-oru", "adrm2021", "oru-adrm2021.hl7"),
            ("hl7-oru", "as4700", "oru-as4700.hl7"),
            ("hl7-ref", "adrm2021", "ref-adrm2021.hl7"),
        ] {
            let out_path = dir.path().join(format!("{name}.{suffix}"));
            let out = write_file_with(
                &path,
                to,
                profile,
                &out_path,
                &["--no-pdf", "--now", "2026-11-24T10:15:00"],
            );
            assert!(
                out.status.success(),
                "{name} {to}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let made = std::fs::read(&out_path).unwrap();
            if suffix.ends_with("hl7") {
                hl7_validate(&out_path);
            }
            let expected_path = golden.join(format!("{name}.{suffix}"));
            if bless {
                std::fs::create_dir_all(&golden).unwrap();
                std::fs::write(&expected_path, &made).unwrap();
            }
            let expected = std::fs::read(&expected_path).unwrap_or_else(|_| {
                panic!(
                    "no golden file {}; run with ATHEN_BLESS=1",
                    expected_path.display()
                )
            });
            assert!(
                made == expected,
                "{} differs from the golden file:\n{}",
                expected_path.display(),
                String::from_utf8_lossy(&made).replace('\r', "\n")
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 24);
}

/// The PDF test letters (made by LibreOffice and reportlab, see
/// tests/letters/make_pdf_letters.py): patient, author and recipient found
/// from the text layer, and the HL7 display is the sender's own PDF.
#[test]
fn pdf_letters_made_by_other_programs() {
    for (file, family, given, dob) in [
        ("letter-plain.pdf", "O'BRIEN", "Seán", "1960-02-01"),
        ("letter-table.pdf", "NGUYỄN", "Thi Lan", "1975-04-03"),
        ("letter-reportlab.pdf", "MÜLLER", "Dieter", "1948-06-05"),
    ] {
        let v = convert_json(&letter(file));
        assert_eq!(v["input"], "pdf", "{file}");
        assert!(v["not_possible"].is_null(), "{file}: {}", v["not_possible"]);
        let p = &v["patient"];
        assert_eq!(p["family_name"]["value"], family, "{file}");
        assert_eq!(p["given_names"]["value"], given, "{file}");
        assert_eq!(p["birth_date"]["value"], dob, "{file}");
        assert_eq!(
            v["author"]["value"]["provider_number"], "2426621B",
            "{file}"
        );
        assert_eq!(
            v["problems"].as_array().map(Vec::len),
            Some(0),
            "{file}: {v}"
        );
    }
    let v = convert_json(&letter("letter-reportlab.pdf"));
    let p = &v["patient"];
    assert_eq!(p["medicare"]["value"]["number"], "2123456701");
    assert_eq!(p["address"]["value"]["suburb"], "Sandy Bay");
    assert_eq!(p["address"]["value"]["state"], "TAS");
    assert_eq!(p["sex"]["value"], "M");
    assert_eq!(v["recipient"]["value"]["family_name"], "O'Neill");
    assert_eq!(v["letter_date"]["value"], "2026-03-12");
    let items: Vec<&Value> = v["body"]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["kind"] == "list_item")
        .collect();
    assert_eq!(items.len(), 3, "the bullets: {}", v["body"]);
    assert_eq!(items[1]["content"][0]["text"], "perindopril 4 mg mane");
    // Text on the second page is read too.
    assert!(v["body"].to_string().contains("eGFR has fallen"));

    let dir = tempfile::tempdir().unwrap();
    for (file, to, profile) in [
        ("letter-table.pdf", "hl7-oru", "adrm2021"),
        ("letter-reportlab.pdf", "hl7-ref", "as4700"),
    ] {
        let path = dir.path().join(format!("{file}.hl7"));
        let out = write_file(&letter(file), to, profile, &path);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        hl7_validate_with_pdf(&path);
        let display = pdf_of(&path, dir.path());
        assert!(
            std::fs::read(display).unwrap() == std::fs::read(letter(file)).unwrap(),
            "{file}: the PDF display is the sender's PDF, byte for byte"
        );
    }
}

#[test]
fn a_scanned_pdf_without_text_is_not_possible() {
    let v = convert_json(&letter("letter-scan.pdf"));
    let why = v["not_possible"].as_str().unwrap();
    assert!(why.contains("no text layer"), "{why}");
    let dir = tempfile::tempdir().unwrap();
    let out = write_file(&letter("letter-scan.pdf"), "pit", "adrm2021", dir.path());
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no text layer"));
}

/// ATHEN's own PDF display, read back as a letter: the round trip keeps
/// the patient and the text.
#[test]
fn athen_reads_its_own_pdf_display_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oru.hl7");
    let out = write_file(&letter("referral.txt"), "hl7-oru", "adrm2021", &path);
    assert!(out.status.success());
    let pdf = pdf_of(&path, dir.path());
    let v = convert_json(pdf.to_str().unwrap());
    assert_eq!(v["input"], "pdf");
    let p = &v["patient"];
    assert_eq!(p["family_name"]["value"], "O'BRIEN");
    assert_eq!(p["given_names"]["value"], "Seán");
    assert_eq!(p["birth_date"]["value"], "1960-02-01");
    assert_eq!(p["medicare"]["value"]["number"], "2123456701");
    assert!(v["body"].to_string().contains("exertional chest pain"));
}

fn eml_with_pdf(pdf: &[u8], name: &str) -> String {
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(pdf);
    let wrapped: Vec<&str> = data
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: reception@northside.example\r\nTo: cardiology@southside.example\r\n\
Date: Tue, 24 Nov 2026 10:00:00 +1100\r\nSubject: Referral\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nPlease find the referral attached.\r\n--b\r\n\
Content-Type: application/pdf; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        wrapped.join("\r\n")
    )
}

#[test]
fn a_message_with_a_pdf_letter_attached() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(letter("letter-table.pdf")).unwrap();
    let eml = dir.path().join("referral.eml");
    std::fs::write(&eml, eml_with_pdf(&original, "Referral Nguyen.pdf")).unwrap();
    let v = convert_json(eml.to_str().unwrap());
    assert_eq!(v["input"], "message");
    assert_eq!(v["patient"]["family_name"]["value"], "NGUYỄN");
    assert_eq!(v["patient"]["birth_date"]["value"], "1975-04-03");
    let parts = v["parts"].as_array().unwrap();
    assert_eq!(parts[1]["content_type"], "application/pdf");
    assert_eq!(parts[1]["file_name"], "Referral Nguyen.pdf");
    assert_eq!(parts[1]["used_as"], "letter");
    let path = dir.path().join("eml.hl7");
    let out = write_file(eml.to_str().unwrap(), "hl7-oru", "adrm2021", &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    hl7_validate_with_pdf(&path);
    assert!(std::fs::read(pdf_of(&path, dir.path())).unwrap() == original);

    // A scan attached: the mail would go unchanged, and the reason says so.
    let scan = std::fs::read(letter("letter-scan.pdf")).unwrap();
    std::fs::write(&eml, eml_with_pdf(&scan, "scan.pdf")).unwrap();
    let v = convert_json(eml.to_str().unwrap());
    let why = v["not_possible"].as_str().unwrap();
    assert!(why.contains("no text layer"), "{why}");
}
