//! HL7 v2 letters for Australian clinical systems
//! (../shared/reference/hl7-pit-formats.md "HL7 v2 for Australian letters"):
//! ORU^R01 (the default, filed as correspondence) and REF^I12, each in the
//! HL7 Australia ADRM 2021 profile on v2.4 or the older AS 4700 profile on
//! v2.3.1. ASCII only (MSH-18 empty); segments end with CR, so does the
//! file. The body goes as a PDF display (`PDF^Display format in
//! PDF^AUSPDI`, ED, base64: the sender's own PDF, or one laid out by
//! [`super::pdf`]) followed by an FT text display (`TXT^Display format in
//! text^AUSPDI`); without `pdf`, the FT display alone.

use super::{Job, Letter, Output, Stamp};
use crate::document::{Block, Inline};
use crate::patient::Party;

mod field;

pub use field::escape;
use field::{Component, Field, Fixed, Segment, SegmentName, Text};

/// A constant of the message, checked when the program is compiled (see
/// [`Fixed::new`]).
macro_rules! fixed {
    ($s:literal) => {
        const { Fixed::new($s) }
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// HL7 Australia ADRM 2021 on v2.4 (the default).
    Adrm2021,
    /// AS 4700.2 / 4700.6 on v2.3.1, still common.
    As4700,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ORU^R01: a result-style message every Australian EMR files.
    Oru,
    /// REF^I12: a referral, where the recipient's system asks for it.
    Ref,
}

/// Who sends and receives, for MSH-3…6.
#[derive(Clone, Debug, Default)]
pub struct Endpoints {
    /// The sending organisation (MSH-4).
    pub sending_facility: String,
    /// The receiving application and facility (MSH-5/6), from the
    /// recipient's directory entry; empty if unknown.
    pub receiving_application: String,
    pub receiving_facility: String,
}

/// Reverses [`escape`] (and reads `\.br\` as a line break).
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('\\') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('\\') else {
            out.push_str(&rest[start..]);
            return out;
        };
        match &after[..end] {
            "E" => out.push('\\'),
            "F" => out.push('|'),
            "S" => out.push('^'),
            "T" => out.push('&'),
            "R" => out.push('~'),
            ".br" => out.push('\n'),
            _ => {} // \H\, \N\ and other formatting: no text.
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

const MSH: SegmentName = SegmentName::new("MSH");
const PID: SegmentName = SegmentName::new("PID");
const PV1: SegmentName = SegmentName::new("PV1");
const ORC: SegmentName = SegmentName::new("ORC");
const OBR: SegmentName = SegmentName::new("OBR");
const OBX: SegmentName = SegmentName::new("OBX");
const RF1: SegmentName = SegmentName::new("RF1");
const PRD: SegmentName = SegmentName::new("PRD");

/// `YYYYMMDDHHMMSS+ZZZZ` (ADRM: timestamps carry their zone).
fn ts(s: &Stamp) -> Field {
    let sign = if s.offset_minutes < 0 { '-' } else { '+' };
    let off = s.offset_minutes.unsigned_abs();
    Field::text(&format!(
        "{}{:02}{:02}{:02}{sign}{:02}{:02}",
        s.date.compact(),
        s.hour,
        s.minute,
        s.second,
        off / 60,
        off % 60
    ))
}

/// An HD namespace id (MSH-3…6): at most 20 characters in v2.3.1 and
/// v2.4, so longer organisation names are shortened.
fn hd(name: &str) -> Field {
    Text::shortened(name, 20).into()
}

/// A text component from an optional value.
fn opt(value: Option<&str>) -> Component {
    Component::text(value.unwrap_or(""))
}

/// XCN for a provider: `provno^Fam^Given^^^Title^^^AUSHICPR`.
fn xcn(p: &Party) -> Field {
    Field::components([
        opt(p.provider_number.as_deref()),
        opt(p.family_name.as_deref()),
        opt(p.given_names.as_deref()),
        Component::default(),
        Component::default(),
        opt(p.title.as_deref()),
        Component::default(),
        Component::default(),
        if p.provider_number.is_some() {
            fixed!("AUSHICPR").into()
        } else {
            Component::default()
        },
    ])
}

/// Receivers show FT monospaced at 80 columns.
const FT_COLUMNS: usize = 78;
/// hl7apy (our independent check) reads each repetition of a "varies"
/// OBX-5 as ST, at most 199 characters; one display line per repetition
/// stays well inside that, as many Australian labs send text.
const MAX_REPETITION: usize = 199;

/// The body as FT, one repetition of OBX-5 per display line (wrapped at
/// [`FT_COLUMNS`]), `\H\`…`\N\` for bold, an empty repetition between
/// paragraphs.
fn formatted_text(letter: Letter<'_>) -> Field {
    Field::repeated(
        display_lines(letter)
            .iter()
            .flat_map(|line| line.wrap(FT_COLUMNS, MAX_REPETITION))
            .map(Field::from),
    )
}

/// The body's display lines, escaped, before wrapping.
fn display_lines(letter: Letter<'_>) -> Vec<Text> {
    let mut lines: Vec<Text> = Vec::new();
    for (i, block) in letter.body.blocks.iter().enumerate() {
        if block.gap_before(i) {
            lines.push(Text::default());
        }
        let (prefix, content, all_bold) = match block {
            Block::Paragraph { content } => (String::new(), content.as_slice(), false),
            Block::Heading { content, .. } => (String::new(), content.as_slice(), true),
            Block::ListItem { content, .. } => (
                block.list_marker().unwrap_or_default(),
                content.as_slice(),
                false,
            ),
            Block::Table { rows } => {
                for row in rows {
                    lines.push(Text::new(&row.join("  ")));
                }
                continue;
            }
        };
        let mut line = Text::new(&prefix);
        for inline in content {
            match inline {
                Inline::Break => lines.push(std::mem::take(&mut line)),
                Inline::Text { text, style, link } => {
                    let bold = all_bold || style.bold;
                    if bold {
                        line.push(&Text::highlight());
                    }
                    line.push(&Text::new(&crate::document::shown_text(
                        text,
                        link.as_deref(),
                    )));
                    if bold {
                        line.push(&Text::normal());
                    }
                }
            }
        }
        lines.push(line);
    }
    lines
}

/// An HL7 v2 file for one letter. With `pdf`, a PDF/A display comes first
/// and the FT text display after it (ADRM: the default for letters);
/// without, the FT display alone. Every value from the letter goes in
/// through [`field`], which escapes it: whatever the letter says, the file
/// has exactly the segments below, with one PID.
pub fn write(
    letter: Letter<'_>,
    job: &Job,
    kind: Kind,
    profile: Profile,
    endpoints: &Endpoints,
    pdf: bool,
) -> Result<Output, String> {
    let x = letter.extraction;
    if let Some(why) = &x.not_possible {
        return Err(why.clone());
    }
    let p = &x.patient;
    let (Some(family), Some(dob)) = (&p.family_name, &p.birth_date) else {
        return Err("not possible, because the patient's name or date of birth is missing".into());
    };
    let author = x
        .author
        .as_ref()
        .map(|a| a.value.clone())
        .unwrap_or_default();
    let recipient = x
        .recipient
        .as_ref()
        .map(|r| r.value.clone())
        .unwrap_or_default();
    if kind == Kind::Ref && recipient.provider_number.is_none() {
        return Err(
            "not possible, because a REF^I12 needs the recipient's provider number (PRD-7)".into(),
        );
    }
    let now = ts(&job.now);
    let control = Component::text(&job.control_id);
    let athen_id = || Field::components([control.clone(), fixed!("ATHEN").into()]);
    let (version, structure) = match (profile, kind) {
        (Profile::Adrm2021, Kind::Oru) => (
            fixed!("2.4^AUS&Australia&ISO3166_1^HL7AU-OO-201701&&L"),
            fixed!("ORU^R01^ORU_R01"),
        ),
        (Profile::Adrm2021, Kind::Ref) => (
            fixed!("2.4^AUS&Australia&ISO3166_1^HL7AU-OO-REF-SIMPLIFIED-201706&&L"),
            fixed!("REF^I12^REF_I12"),
        ),
        (Profile::As4700, Kind::Oru) => (fixed!("2.3.1^AUS&&ISO^AS4700.2&&L"), fixed!("ORU^R01")),
        (Profile::As4700, Kind::Ref) => (fixed!("2.3.1^AUS&&ISO^AS4700.6&&L"), fixed!("REF^I12")),
    };
    let msh = Segment::new(MSH)
        .set(
            3,
            Field::components([
                fixed!("ATHEN").into(),
                Component::text(env!("CARGO_PKG_VERSION")),
            ]),
        )
        .set(4, hd(&endpoints.sending_facility))
        .set(5, hd(&endpoints.receiving_application))
        .set(6, hd(&endpoints.receiving_facility))
        .set(7, now.clone())
        .set(9, structure)
        .set(10, Field::from(control.clone()))
        .set(11, fixed!("P"))
        .set(12, version)
        .set(15, fixed!("AL"))
        .set(16, fixed!("AL"))
        .set(17, fixed!("AUS"))
        .set(19, fixed!("en^English^ISO639"));

    // PID-3: Medicare and IHI where known, the receiving practice's own
    // register number for the patient, else this message's own id (CX:
    // id^^^authority^type).
    let cx = |id: Component, authority: Fixed, kind: Fixed| {
        Field::components([
            id,
            Component::default(),
            Component::default(),
            authority.into(),
            kind.into(),
        ])
    };
    let mut ids = Vec::new();
    if let Some(m) = &p.medicare {
        let irn = m.value.irn.map(|i| i.to_string()).unwrap_or_default();
        ids.push(cx(
            Component::text(&format!("{}{irn}", m.value.number)),
            fixed!("AUSHIC"),
            fixed!("MC"),
        ));
    }
    if let Some(ihi) = &p.ihi {
        ids.push(cx(
            Component::text(&ihi.value),
            fixed!("AUSHIC"),
            fixed!("NI"),
        ));
    }
    if let Some(local) = &job.local_patient_id {
        ids.push(cx(Component::text(local), fixed!("ATHEN"), fixed!("MR")));
    }
    if ids.is_empty() {
        ids.push(cx(control.clone(), fixed!("ATHEN"), fixed!("MR")));
    }
    let given = p
        .given_names
        .as_ref()
        .map(|g| g.value.trim())
        .unwrap_or_default();
    let (first, middle) = given.split_once(' ').unwrap_or((given, ""));
    let name = Field::components([
        Component::text(&family.value),
        Component::text(first),
        Component::text(middle.trim()),
        Component::default(),
        opt(p.title.as_ref().map(|t| t.value.as_str())),
        Component::default(),
        fixed!("L").into(),
    ]);
    let address = p
        .address
        .as_ref()
        .map(|a| {
            let a = &a.value;
            Field::components([
                opt(a.street.as_deref()),
                Component::default(),
                opt(a.suburb.as_deref()),
                opt(a.state.map(|s| s.code())),
                opt(a.postcode.as_deref()),
                fixed!("AUS").into(),
                fixed!("H").into(),
            ])
        })
        .unwrap_or_default();
    let phone = p
        .phone
        .as_ref()
        .map(|ph| {
            Field::components([
                Component::text(&ph.value),
                fixed!("PRN").into(),
                fixed!("PH").into(),
            ])
        })
        .unwrap_or_default();
    let pid = Segment::new(PID)
        .set(1, fixed!("1"))
        .set(3, Field::repeated(ids))
        .set(5, name)
        .set(7, Field::text(&dob.value.compact()))
        .set(
            8,
            Field::text(p.sex.as_ref().map(|s| s.value.code()).unwrap_or("U")),
        )
        .set(11, address)
        .set(13, phone);
    let pv1 = Segment::new(PV1)
        .set(1, fixed!("1"))
        .set(2, fixed!("O"))
        .set(9, xcn(&recipient));
    let letter_date = Field::text(
        &x.letter_date
            .as_ref()
            .map(|d| d.value.compact())
            .unwrap_or_else(|| job.now.date.compact()),
    );
    let obr = Segment::new(OBR)
        .set(1, fixed!("1"))
        .set(3, athen_id())
        .set(
            4,
            match kind {
                Kind::Oru => fixed!("11490-0^Letter^LN"),
                Kind::Ref => fixed!("11488-4^Consult note^LN"),
            },
        )
        .set(7, letter_date.clone())
        .set(16, xcn(&author))
        .set(22, now)
        .set(24, fixed!("PHY"))
        .set(25, fixed!("F"));
    let mut obx = Vec::new();
    if pdf {
        // A letter that came as a PDF is shown as it was written; any
        // other is laid out here.
        let bytes = match letter.original_pdf {
            Some(original) => original.to_vec(),
            None => super::pdf::render(letter, job, &format!("Letter about {}", family.value))?,
        };
        obx.push(
            Segment::new(OBX)
                .set(1, fixed!("1"))
                .set(2, fixed!("ED"))
                .set(3, fixed!("PDF^Display format in PDF^AUSPDI"))
                .set(4, fixed!("1"))
                .set(
                    5,
                    Field::components([
                        Component::default(),
                        fixed!("application").into(),
                        fixed!("pdf").into(),
                        fixed!("Base64").into(),
                        Component::base64(&bytes),
                    ]),
                )
                .set(11, fixed!("F")),
        );
    }
    obx.push(
        Segment::new(OBX)
            .set(1, Field::text(&(obx.len() + 1).to_string()))
            .set(2, fixed!("FT"))
            .set(3, fixed!("TXT^Display format in text^AUSPDI"))
            .set(4, fixed!("1"))
            .set(5, formatted_text(letter))
            .set(11, fixed!("F")),
    );
    let mut segments = vec![msh];
    match kind {
        Kind::Oru => {
            segments.push(pid);
            segments.push(pv1);
            segments.push(
                Segment::new(ORC)
                    .set(1, fixed!("RE"))
                    .set(3, athen_id())
                    .set(5, fixed!("CM")),
            );
            segments.push(obr);
            segments.extend(obx);
        }
        Kind::Ref => {
            segments.push(
                Segment::new(RF1)
                    .set(1, fixed!("P^Pending^HL70283"))
                    .set(2, fixed!("R^Routine^HL70280"))
                    .set(3, fixed!("Med^Medical^HL70281"))
                    .set(5, fixed!("O^Outpatient^HL70284"))
                    .set(6, athen_id())
                    .set(7, letter_date),
            );
            segments.push(prd([fixed!("RP"), fixed!("AP")], &author));
            segments.push(prd([fixed!("RT"), fixed!("IR")], &recipient));
            segments.push(pid);
            segments.push(obr);
            segments.extend(obx);
            // REF^I12: PV1 comes after the OBR groups.
            segments.push(pv1);
        }
    }
    let stem = format!("{}{:05}", job.sender_initials, job.run_number % 100_000);
    Ok(Output {
        file_name: format!("{stem}.HL7"),
        mime_type: "application/edi-hl7v2",
        bytes: field::message(&segments),
    })
}

/// PRD: roles, name, then PRD-7 `provno^AUSHICPR^UPIN`.
fn prd(roles: [Fixed; 2], p: &Party) -> Segment {
    let id = p
        .provider_number
        .as_ref()
        .map(|n| {
            Field::components([
                Component::text(n),
                fixed!("AUSHICPR").into(),
                fixed!("UPIN").into(),
            ])
        })
        .unwrap_or_default();
    Segment::new(PRD)
        .set(1, Field::repeated(roles.map(Field::from)))
        .set(
            2,
            Field::components([
                opt(p.family_name.as_deref()),
                opt(p.given_names.as_deref()),
                Component::default(),
                Component::default(),
                opt(p.title.as_deref()),
                Component::default(),
                fixed!("L").into(),
            ]),
        )
        .set(7, id)
}

/// A parsed HL7 v2 message: segments of fields, unescaped. Enough to read
/// back what [`write`] made, and letters other systems send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub segments: Vec<Vec<String>>,
}

impl Parsed {
    /// Splits on CR (or LF, CR LF); the separators come from MSH.
    pub fn parse(text: &str) -> Result<Parsed, String> {
        let text = text.replace("\r\n", "\r").replace('\n', "\r");
        let mut segments = Vec::new();
        for line in text.split('\r').filter(|l| !l.is_empty()) {
            segments.push(line.split('|').map(str::to_string).collect::<Vec<_>>());
        }
        match segments.first() {
            Some(msh) if msh.first().map(String::as_str) == Some("MSH") => {}
            _ => return Err("an HL7 message starts with MSH".into()),
        }
        if segments[0].get(1).map(String::as_str) != Some("^~\\&") {
            return Err("only the standard separators ^~\\& are read".into());
        }
        Ok(Parsed { segments })
    }

    /// Field `n` of the first segment named `name` (HL7 numbering: MSH-9
    /// is `field("MSH", 9)`), unescaped.
    pub fn field(&self, name: &str, n: usize) -> Option<String> {
        let seg = self.segments.iter().find(|s| s[0] == name)?;
        // MSH-1 is the field separator itself, so MSH fields are shifted.
        let idx = if name == "MSH" { n - 1 } else { n };
        seg.get(idx).map(|f| unescape(f))
    }

    /// Segment names in order.
    pub fn names(&self) -> Vec<&str> {
        self.segments.iter().map(|s| s[0].as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::ascii;
    use proptest::prelude::*;

    #[test]
    fn escaping_round_trips() {
        let s = "a|b^c&d~e\\f";
        assert_eq!(escape(s), "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f");
        assert_eq!(unescape(&escape(s)), s);
        assert_eq!(unescape("one\\.br\\two \\H\\bold\\N\\"), "one\ntwo bold");
        assert_eq!(unescape("dangling \\E"), "dangling \\E");
    }

    proptest! {
        #[test]
        fn escape_is_reversible(s in "[^\\p{Cc}]{0,60}") {
            let e = escape(&s);
            prop_assert!(!e.contains('|') && !e.contains('^') && !e.contains('&') && !e.contains('~'));
            prop_assert_eq!(unescape(&e), s);
        }

        /// Whatever a letter calls its patient, the message written reads
        /// back (with our parser) to the same name, in ASCII.
        #[test]
        fn names_and_text_round_trip(
            family in "[A-Za-z'|^&~\\\\ÄÖÜäöüễé -]{1,20}",
            given in "[A-Za-z|^&~\\\\ -]{0,15}",
            line in "[ -~]{1,120}",
        ) {
            use crate::document::{Body, Inline, Block, Style};
            use crate::extract::Extraction;
            use crate::patient::{Found, Patient, Source};
            prop_assume!(!family.trim().is_empty());
            let found = |v: &str| Some(Found::new(v.to_string(), Source::PatientHeader));
            let x = Extraction {
                patient: Patient {
                    family_name: found(&family),
                    given_names: found(&given),
                    birth_date: Some(Found::new(crate::date::Date::new(1960, 2, 1).unwrap(), Source::PatientHeader)),
                    ..Default::default()
                },
                letter_date: None,
                author: None,
                recipient: None,
                problems: vec![],
                not_possible: None,
            };
            let body = Body {
                blocks: vec![Block::Paragraph {
                    content: vec![Inline::Text { text: line.clone(), style: Style::default(), link: None }],
                }],
            };
            let job = Job {
                now: Stamp::from_unix(1_795_500_000, 600),
                run_number: 1,
                sender_initials: "ABC".into(),
                control_id: "X1".into(),
                local_patient_id: None,
            };
            let out = write(
                Letter {
                    extraction: &x,
                    body: &body,
                    original_pdf: None,
                },
                &job,
                Kind::Oru,
                Profile::Adrm2021,
                &Endpoints::default(),
                false,
            )
            .unwrap();
            let text = String::from_utf8(out.bytes).unwrap();
            let msg = Parsed::parse(&text).unwrap();
            prop_assert_eq!(msg.names(), ["MSH", "PID", "PV1", "ORC", "OBR", "OBX"]);
            let pid5 = &msg.segments[1][5];
            let first = pid5.split('^').next().unwrap();
            prop_assert_eq!(unescape(first), ascii(&family));
            // The display text, joined back from its repetitions, holds the
            // line's words in order.
            let obx5 = &msg.segments[5][5];
            let joined: Vec<String> = obx5.split('~').map(unescape).collect();
            let words: Vec<&str> = line.split_whitespace().collect();
            let got = joined.join(" ");
            let got_words: Vec<&str> = got.split_whitespace().collect();
            prop_assert_eq!(got_words, words);
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,200}") {
            if let Ok(p) = Parsed::parse(&s) {
                let _ = p.field("MSH", 9);
                let _ = p.field("PID", 5);
            }
        }
    }
}
