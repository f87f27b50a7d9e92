//! Clinical conversion of incoming letters during unspool (whitepaper
//! steps 11–16): the letter is read and checked by `athen-clinical`, the
//! first of the mailbox's delivery formats that can be made is attached to
//! the message as a new MIME part (the original parts left as they were),
//! and the trail records what was made, or why nothing could be.
//!
//! File names are 8.3: three letters for the correspondent and a run
//! number (PIT allows 1–9999). Both come from the trail's earlier
//! "converted" events, so they survive restarts, need no table of their
//! own, and stay consistent with the trail after a crash (the event is
//! written in the same transaction as the message).

use crate::audit::{EventKind, TrailEvent, TrailItem};
use athen_clinical::convert::{self, InputKind};
use athen_clinical::extract::Context;
use athen_clinical::patient::Party;
use athen_clinical::write::{self, Format, Job, Letter, Output, Stamp, hl7};
use athen_core::store::PatientKey;
use athen_vault::MailboxSecret;
use base64::Engine;
use std::collections::{HashMap, HashSet};

/// What conversion needs to know about the receiving mailbox.
#[derive(Clone, Debug, Default)]
pub struct ConversionSetup {
    /// The delivery formats in order of preference; empty: no conversion.
    pub formats: Vec<Format>,
    /// The mailbox's owner as the letter's recipient (an individual's
    /// directory entry); `None` lets the letter say ("Dear Dr …").
    pub recipient: Option<Party>,
    /// The receiving organisation (HL7 MSH-6).
    pub facility: String,
    /// The practice's time zone, minutes east of UTC, for file times.
    pub utc_offset_minutes: i16,
}

impl ConversionSetup {
    /// The setup of an account's mailbox: its delivery formats (a format
    /// the store holds but this version does not know is left out, and
    /// logged) and, for an individual, their own directory entry as the
    /// recipient. File times are written in UTC (with the +0000 offset
    /// HL7 carries), which every clinical system reads correctly.
    pub async fn for_account(
        store: &(impl athen_core::store::MailboxStore + athen_core::store::DirectoryStore + ?Sized),
        account: &athen_core::account::Account,
    ) -> Result<ConversionSetup, crate::MailError> {
        let settings = store.settings(account.mailbox_id).await?;
        let formats = settings
            .delivery_formats
            .iter()
            .filter_map(|f| match Format::parse(f) {
                Ok(f) => Some(f),
                Err(e) => {
                    tracing::warn!(mailbox = %account.mailbox_id, error = %e, "delivery format ignored");
                    None
                }
            })
            .collect();
        let entry = store.entry(account.entry_id).await?;
        let recipient = entry
            .filter(|e| e.role == athen_core::directory::EntryRole::Individual)
            .map(|e| Party {
                title: e.details.title.clone(),
                given_names: e.details.given_name.clone(),
                family_name: e.details.family_name.clone(),
                provider_number: e.details.provider_numbers.first().cloned(),
                organisation: None,
                email: Some(account.address.clone()),
            });
        Ok(ConversionSetup {
            formats,
            recipient,
            facility: account.name.clone(),
            utc_offset_minutes: 0,
        })
    }
}

/// What was done with one message.
pub enum Converted {
    /// The message with the import file attached, the file as the
    /// downloader is told of it, and the trail event.
    Attached {
        raw: Vec<u8>,
        file: crate::meta::ImportFile,
        event: TrailEvent,
    },
    /// Nothing could be made; the message goes unchanged.
    NotPossible { event: TrailEvent },
}

/// Correspondents' letters and run numbers, as earlier conversions left
/// them in the trail.
#[derive(Debug, Default)]
pub struct RunNumbers {
    by_correspondent: HashMap<String, (String, u32)>,
    used: HashSet<String>,
}

impl RunNumbers {
    pub fn from_trail(items: &[TrailItem]) -> RunNumbers {
        let mut runs = RunNumbers::default();
        runs.add(items);
        runs
    }

    /// Learns from more of the trail, oldest first.
    pub fn add(&mut self, items: &[TrailItem]) {
        let runs = self;
        for i in items {
            let e = &i.event;
            if e.kind != Some(EventKind::Converted) {
                continue;
            }
            let (Some(who), Some(file)) = (&e.correspondent, &e.file) else {
                continue;
            };
            let stem = file.split('.').next().unwrap_or("");
            if stem.len() != 8 || !stem.is_ascii() {
                continue;
            }
            let (initials, number) = stem.split_at(3);
            let Ok(n) = number.parse::<u32>() else {
                continue;
            };
            runs.used.insert(initials.to_string());
            runs.by_correspondent
                .insert(address_key(who), (initials.to_string(), n));
        }
    }

    /// The correspondent's three letters and next run number; letters no
    /// other correspondent has, so two senders' files never share a name.
    fn next(&self, correspondent: &str) -> (String, u32) {
        let key = address_key(correspondent);
        if let Some((initials, last)) = self.by_correspondent.get(&key) {
            return (initials.clone(), if *last >= 9999 { 1 } else { last + 1 });
        }
        let base = write::initials(display_name(correspondent));
        let candidates = std::iter::once(base.clone()).chain(
            ('A'..='Z')
                .chain('0'..='9')
                .map(|c| format!("{}{c}", &base[..2])),
        );
        let free = candidates
            .into_iter()
            .find(|c| !self.used.contains(c))
            .unwrap_or(base);
        (free, 1)
    }

    fn record(&mut self, correspondent: &str, initials: &str, run: u32) {
        self.used.insert(initials.to_string());
        self.by_correspondent
            .insert(address_key(correspondent), (initials.to_string(), run));
    }
}

/// The mailbox's patient register as it stands, and the patients this
/// run added (to be stored before the letters that name them).
pub struct PatientRegister<'a> {
    secret: &'a MailboxSecret,
    known: HashMap<PatientKey, u32>,
    next: u32,
    added: Vec<(PatientKey, u32)>,
}

impl<'a> PatientRegister<'a> {
    pub fn new(secret: &'a MailboxSecret, stored: Vec<(PatientKey, u32)>) -> PatientRegister<'a> {
        let next = stored.iter().map(|(_, n)| *n).max().unwrap_or(0) + 1;
        PatientRegister {
            secret,
            known: stored.into_iter().collect(),
            next,
            added: Vec::new(),
        }
    }

    /// The patient's register number ("000042"), given at their first
    /// letter; `None` without a family name and a date of birth. Names are
    /// compared by their letters only, in capitals, and by the first given
    /// name ("O'Neill, Mary Anne" and "ONEILL, MARY" are one patient).
    pub fn number_for(&mut self, patient: &athen_clinical::patient::Patient) -> Option<String> {
        let letters = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_alphabetic())
                .flat_map(char::to_uppercase)
                .collect()
        };
        let family = letters(&patient.family_name.as_ref()?.value);
        let birth = patient.birth_date.as_ref()?.value.compact();
        if family.is_empty() {
            return None;
        }
        let given = patient
            .given_names
            .as_ref()
            .and_then(|g| g.value.split_whitespace().next().map(letters))
            .unwrap_or_default();
        let who = zeroize::Zeroizing::new(format!("{family}\n{given}\n{birth}"));
        let key = athen_vault::seal::keyed_digest(self.secret, "patient register", who.as_bytes());
        let number = match self.known.get(&key) {
            Some(n) => *n,
            None => {
                let n = self.next;
                self.next += 1;
                self.known.insert(key, n);
                self.added.push((key, n));
                n
            }
        };
        Some(format!("{number:06}"))
    }

    /// The patients added since the last call.
    pub fn take_added(&mut self) -> Vec<(PatientKey, u32)> {
        std::mem::take(&mut self.added)
    }
}

/// "Dr Peter Smith <peter@x>" → "peter@x" (lower case), for counting.
fn address_key(correspondent: &str) -> String {
    correspondent
        .rsplit_once('<')
        .map(|(_, a)| a.trim_end_matches('>'))
        .unwrap_or(correspondent)
        .trim()
        .to_ascii_lowercase()
}

/// "Dr Peter Smith <peter@x>" → "Dr Peter Smith"; a bare address → its
/// local part.
fn display_name(correspondent: &str) -> &str {
    match correspondent.split_once('<') {
        Some((name, _)) if !name.trim().is_empty() => name.trim().trim_matches('"'),
        _ => correspondent
            .trim_matches(['<', '>', ' '])
            .split('@')
            .next()
            .unwrap_or(correspondent),
    }
}

/// Converts one received message. `control_id` must be unique to this
/// copy (HL7 MSH-10).
pub fn convert_message(
    setup: &ConversionSetup,
    runs: &mut RunNumbers,
    patients: &mut PatientRegister<'_>,
    raw: &[u8],
    sender: &str,
    received_at: i64,
    control_id: &str,
) -> Converted {
    let ctx = Context {
        today: convert::today(received_at + i64::from(setup.utc_offset_minutes) * 60),
        author: None,
        recipient: setup.recipient.clone(),
        sent: None,
    };
    let conversion = convert::convert(InputKind::Message, raw, &ctx);
    let (initials, run) = runs.next(sender);
    let job = Job {
        now: Stamp::from_unix(received_at, setup.utc_offset_minutes),
        run_number: run,
        sender_initials: initials.clone(),
        control_id: control_id.to_string(),
        local_patient_id: patients.number_for(&conversion.extraction.patient),
    };
    let letter = Letter {
        extraction: &conversion.extraction,
        body: &conversion.body,
        original_pdf: conversion.original_pdf.as_deref(),
    };
    let endpoints = hl7::Endpoints {
        sending_facility: display_name(sender).to_string(),
        receiving_application: String::new(),
        receiving_facility: setup.facility.clone(),
    };
    let base = TrailEvent {
        correspondent: Some(sender.to_string()),
        ..TrailEvent::new(EventKind::Converted)
    };
    match write::first_that_works(&setup.formats, letter, &job, &endpoints, true) {
        Ok((format, output, _refused)) => {
            runs.record(sender, &initials, run);
            let raw = attach(raw, &output, &format.name());
            let file = crate::meta::ImportFile {
                name: output.file_name.clone(),
                format: format.name(),
                content_type: output.mime_type.to_string(),
                size: output.bytes.len() as u64,
                sha256: crate::import::sha256_hex(&output.bytes),
            };
            Converted::Attached {
                raw,
                file,
                event: TrailEvent {
                    detail: Some(format.name()),
                    file: Some(output.file_name),
                    ..base
                },
            }
        }
        Err(refused) => {
            // The first format's reason is the one the practice cares
            // about; the others usually repeat it.
            let why = refused
                .first()
                .map(|(_, why)| why.clone())
                .unwrap_or_else(|| "not possible, because no delivery format is set".into());
            Converted::NotPossible {
                event: TrailEvent {
                    detail: Some(why),
                    ..base
                },
            }
        }
    }
}

/// The message with `output` added as an attachment. A multipart/mixed
/// message gets one more part before its closing delimiter; any other is
/// wrapped in a new multipart/mixed whose first part is the original body
/// with its own MIME header fields (RFC 2046 §5.1.3). Every original byte
/// of the body stays as it was.
pub fn attach(raw: &[u8], output: &Output, format: &str) -> Vec<u8> {
    let (head, blank, body) = split_header(raw);
    let fields = header_fields(head);
    let part = attachment_part(output);
    let marker = format!("X-Athen-Converted: {format}; file={}\r\n", output.file_name);
    let content_type = fields
        .iter()
        .find(|f| field_name(f).eq_ignore_ascii_case("content-type"))
        .map(|f| unfold(f));
    if let Some(ct) = &content_type
        && let Some(boundary) = mixed_boundary(ct)
        && let Some(at) = closing_delimiter(body, &boundary)
    {
        let mut out = Vec::with_capacity(raw.len() + part.len() + 200);
        out.extend_from_slice(marker.as_bytes());
        out.extend_from_slice(head);
        out.extend_from_slice(blank);
        out.extend_from_slice(&body[..at]);
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        out.extend_from_slice(part.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body[at..]);
        return out;
    }
    let boundary = format!(
        "athen-{}",
        crate::random_id().unwrap_or_else(|_| "converted-boundary".into())
    );
    let is_mime = |f: &[u8]| field_name(f).to_ascii_lowercase().starts_with("content-");
    let mut out = Vec::with_capacity(raw.len() + part.len() + 400);
    out.extend_from_slice(marker.as_bytes());
    for f in fields
        .iter()
        .filter(|f| !is_mime(f) && !field_name(f).eq_ignore_ascii_case("mime-version"))
    {
        out.extend_from_slice(f);
    }
    out.extend_from_slice(
        format!(
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n"
        )
        .as_bytes(),
    );
    for f in fields.iter().filter(|f| is_mime(f)) {
        out.extend_from_slice(f);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    if !body.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    out.extend_from_slice(part.as_bytes());
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

fn attachment_part(output: &Output) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(&output.bytes);
    let mut part = format!(
        "Content-Type: {}; name=\"{}\"\r\nContent-Disposition: attachment; filename=\"{}\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n",
        output.mime_type, output.file_name, output.file_name
    );
    for chunk in data.as_bytes().chunks(76) {
        part.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        part.push_str("\r\n");
    }
    part
}

/// The header section (with its final line break), the blank line after
/// it, and the body.
fn split_header(raw: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let crlf = memfind(raw, b"\r\n\r\n").map(|i| i + 2);
    let lf = memfind(raw, b"\n\n").map(|i| i + 1);
    let end = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(raw.len()),
    };
    let blank = if raw[end..].starts_with(b"\r\n") {
        2
    } else {
        1
    };
    let body_start = (end + blank).min(raw.len());
    (&raw[..end], &raw[end..body_start], &raw[body_start..])
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Header fields with their continuation lines, each ending in a line break.
fn header_fields(head: &[u8]) -> Vec<&[u8]> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < head.len() {
        if head[i] == b'\n' {
            let next = head.get(i + 1);
            if !matches!(next, Some(b' ' | b'\t')) {
                fields.push(&head[start..=i]);
                start = i + 1;
            }
        }
        i += 1;
    }
    if start < head.len() {
        fields.push(&head[start..]);
    }
    fields
}

fn field_name(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == b':').unwrap_or(0);
    String::from_utf8_lossy(&field[..end]).trim().to_string()
}

fn unfold(field: &[u8]) -> String {
    String::from_utf8_lossy(field)
        .replace(['\r', '\n'], "")
        .split_once(':')
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// The boundary of a `multipart/mixed` Content-Type value.
fn mixed_boundary(value: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    if !lower.trim_start().starts_with("multipart/mixed") {
        return None;
    }
    let at = lower.find("boundary=")? + "boundary=".len();
    let rest = &value[at..];
    let b = match rest.strip_prefix('"') {
        Some(q) => q.split('"').next()?,
        None => rest.split([';', ' ', '\t']).next()?,
    };
    (!b.is_empty()).then(|| b.to_string())
}

/// Where the line `--boundary--` starts in `body`.
fn closing_delimiter(body: &[u8], boundary: &str) -> Option<usize> {
    let close = format!("--{boundary}--");
    let mut found = None;
    let mut from = 0;
    while let Some(i) = memfind(&body[from..], close.as_bytes()) {
        let at = from + i;
        if at == 0 || body[at - 1] == b'\n' {
            found = Some(at);
        }
        from = at + close.len();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{MessageParser, MimeHeaders};

    fn output() -> Output {
        Output {
            file_name: "DPS00001.HL7".into(),
            mime_type: "application/x-hl7",
            bytes: b"MSH|^~\\&|...\r".to_vec(),
        }
    }

    fn attachments(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
        let m = MessageParser::default().parse(raw).unwrap();
        m.attachments()
            .map(|p| {
                (
                    p.attachment_name().unwrap_or("").to_string(),
                    p.contents().to_vec(),
                )
            })
            .collect()
    }

    fn patient_of(subject: &str) -> athen_clinical::patient::Patient {
        let raw = format!("From: a@b.test\r\nSubject: {subject}\r\n\r\nDear Doctor\r\n");
        let ctx = Context {
            today: convert::today(1_796_100_000),
            author: None,
            recipient: None,
            sent: None,
        };
        convert::convert(InputKind::Message, raw.as_bytes(), &ctx)
            .extraction
            .patient
    }

    #[test]
    fn the_register_gives_each_patient_one_number() {
        let secret = MailboxSecret::generate().unwrap();
        let mut r = PatientRegister::new(&secret, Vec::new());
        let mary = patient_of(
            "[O'NEILL, Mary Anne (F) DOB:03/04/1950 1 Main St, Northside 2000] Referral",
        );
        let same = patient_of("[ONEILL, Mary (F) DOB:03/04/1950] Results");
        let other_day = patient_of("[O'NEILL, Mary (F) DOB:04/04/1950] Referral");
        let john = patient_of("[SMITH, John (M) DOB:01/02/1960] Referral");
        assert_eq!(r.number_for(&mary).as_deref(), Some("000001"));
        assert_eq!(r.number_for(&same).as_deref(), Some("000001"));
        assert_eq!(r.number_for(&other_day).as_deref(), Some("000002"));
        assert_eq!(r.number_for(&john).as_deref(), Some("000003"));
        let added = r.take_added();
        assert_eq!(added.len(), 3);
        assert!(r.take_added().is_empty());
        // Read back from the store, the numbers stay; new ones follow on.
        let mut again = PatientRegister::new(&secret, added.clone());
        assert_eq!(again.number_for(&john).as_deref(), Some("000003"));
        let jane = patient_of("[CITIZEN, Jane (F) DOB:05/06/1970] Referral");
        assert_eq!(again.number_for(&jane).as_deref(), Some("000004"));
        // No name or no date of birth: no number.
        assert_eq!(again.number_for(&patient_of("Referral")), None);
        // Another mailbox's keys give other digests: the register says
        // nothing about who is in another practice's.
        let other = MailboxSecret::generate().unwrap();
        let mut theirs = PatientRegister::new(&other, Vec::new());
        theirs.number_for(&john);
        assert!(!added.contains(&theirs.take_added()[0]));
    }

    #[test]
    fn a_plain_message_is_wrapped_and_its_body_kept() {
        let raw = b"From: Dr Peter Smith <peter@x.test>\r\nSubject: Referral\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nDear Dr M\xc3\xbcller,\r\n\r\nRe: Mr O'BRIEN\r\n";
        let out = attach(raw, &output(), "hl7-oru:adrm2021");
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with(
            "X-Athen-Converted: hl7-oru:adrm2021; file=DPS00001.HL7\r\nFrom: Dr Peter Smith"
        ));
        assert!(text.contains("Dear Dr Müller,\r\n\r\nRe: Mr O'BRIEN\r\n--athen-"));
        let m = MessageParser::default().parse(&out).unwrap();
        assert_eq!(m.subject(), Some("Referral"));
        assert_eq!(
            m.body_text(0).unwrap().trim_end(),
            "Dear Dr Müller,\r\n\r\nRe: Mr O'BRIEN"
        );
        assert_eq!(
            attachments(&out),
            [("DPS00001.HL7".to_string(), b"MSH|^~\\&|...\r".to_vec())]
        );
    }

    #[test]
    fn a_mixed_message_gets_one_more_part() {
        let raw = b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF-1.4\r\n--b1--\r\n";
        let out = attach(raw, &output(), "pit");
        let names: Vec<String> = attachments(&out).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a.pdf", "DPS00001.HL7"]);
        // Everything before the new part is the original, byte for byte.
        let original_until_close = &raw[..raw.len() - b"--b1--\r\n".len()];
        let marker_len = "X-Athen-Converted: pit; file=DPS00001.HL7\r\n".len();
        assert_eq!(
            &out[marker_len..marker_len + original_until_close.len()],
            original_until_close
        );
        assert!(out.ends_with(b"--b1--\r\n"));
    }

    #[test]
    fn a_message_without_mime_headers_and_one_without_a_body() {
        let out = attach(b"Subject: bare\n\nJust text", &output(), "pit");
        let m = MessageParser::default().parse(&out).unwrap();
        assert_eq!(m.body_text(0).unwrap().trim_end(), "Just text");
        assert_eq!(attachments(&out).len(), 1);
        let out = attach(b"Subject: nothing else", &output(), "pit");
        assert_eq!(attachments(&out).len(), 1);
    }

    #[test]
    fn run_numbers_and_letters_per_correspondent() {
        let mut runs = RunNumbers::default();
        let a = "Northside Medical Centre <a@northside.test>";
        let b = "Newtown Medical Clinic <b@newtown.test>";
        assert_eq!(runs.next(a), ("NMC".to_string(), 1));
        runs.record(a, "NMC", 1);
        assert_eq!(runs.next("a@NORTHSIDE.test"), ("NMC".to_string(), 2));
        let (other, n) = runs.next(b);
        assert_eq!((other.as_str(), n), ("NMA", 1), "never the same letters");
        runs.record(a, "NMC", 9999);
        assert_eq!(runs.next(a).1, 1, "PIT run numbers wrap at 9999");
        let item = |file: &str, who: &str| TrailItem {
            seq: 1,
            at: 0,
            event: TrailEvent {
                correspondent: Some(who.into()),
                file: Some(file.into()),
                ..TrailEvent::new(EventKind::Converted)
            },
        };
        let runs = RunNumbers::from_trail(&[item("NMC00041.HL7", a), item("NMA00003.PIT", b)]);
        assert_eq!(runs.next(a), ("NMC".to_string(), 42));
        assert_eq!(runs.next(b), ("NMA".to_string(), 4));
        assert_eq!(runs.next("x@y.test").0, "XXX");
    }
}
