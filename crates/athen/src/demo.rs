//! `athen localserve --demo`: two practices, confirmed and in the
//! directory, with letters about patients already exchanged, and an
//! administrator, so that a newcomer sees the whole flow at once.
//!
//! Everything goes the real way: the accounts are registered and
//! confirmed as the administrator would, the letters are sent through the
//! submission path the web app uses (followed in the senders' trails,
//! sealed into the recipients' spools), and Harbour Street's letters
//! become HL7 files when it signs in. Done once per data directory: a
//! second start finds the accounts and only prints how to sign in.
//!
//! The passwords are fixed and printed: this is for trying ATHEN on one's
//! own computer (`localserve` listens on loopback), never for real mail.

use crate::context::DataDir;
use anyhow::{Context, Result};
use athen_clinical::compose::PatientInput;
use athen_clinical::date::Date;
use athen_core::account::{AccountKind, Doors, StatusAction};
use athen_core::directory::EntryInput;
use athen_core::store::{AccountStore, MailboxStore, OperatorStore};
use athen_mail::submit::{SendAs, Submitter};
use athen_vault::KdfParams;
use athen_vault::accounts::{self, Registration};
use athen_vault::auth::Authenticator;

/// A demo login, as printed.
pub struct DemoLogin {
    pub who: &'static str,
    pub login: String,
    pub password: &'static str,
}

pub const ADMIN_LOGIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "demo admin password";
const HARBOUR_PASSWORD: &str = "harbour demo password";
const SHARMA_PASSWORD: &str = "sharma demo password";

struct Practice {
    who: &'static str,
    local: &'static str,
    password: &'static str,
    kind: AccountKind,
    entry: EntryInput,
}

fn practices() -> [Practice; 2] {
    let s = |v: &str| Some(v.to_string());
    [
        Practice {
            who: "Harbour Street Medical Centre (a general practice)",
            local: "harbour.street",
            password: HARBOUR_PASSWORD,
            kind: AccountKind::Organisation,
            entry: EntryInput {
                organisation_name: s("Harbour Street Medical Centre"),
                category: s("general-practice"),
                street: s("12 Harbour Street"),
                suburb: s("Sydney"),
                state: s("NSW"),
                postcode: s("2000"),
                phone: s("02 9000 1234"),
                ..EntryInput::default()
            },
        },
        Practice {
            who: "Dr Priya Sharma (a cardiologist)",
            local: "priya.sharma",
            password: SHARMA_PASSWORD,
            kind: AccountKind::Individual,
            entry: EntryInput {
                title: s("Dr"),
                given_name: s("Priya"),
                family_name: s("Sharma"),
                specialty: s("Cardiology"),
                street: s("4 Macquarie Street"),
                suburb: s("Sydney"),
                state: s("NSW"),
                postcode: s("2000"),
                phone: s("02 9000 5678"),
                ..EntryInput::default()
            },
        },
    ]
}

/// A letter of the demo: who sends it to whom, about which patient.
struct Letter {
    from: usize,
    to: usize,
    patient: [&'static str; 4],
    subject: &'static str,
    body: &'static str,
}

const LETTERS: [Letter; 3] = [
    Letter {
        from: 0,
        to: 1,
        patient: ["O'Brien", "Sean", "M", "01/02/1960"],
        subject: "Referral: chest pain on exertion",
        body: "Dear Dr Sharma,\n\nThank you for seeing Sean, 66, who has had central chest tightness \
on climbing stairs for three weeks. ECG in the rooms showed sinus rhythm without acute changes. \
He takes atorvastatin 40 mg daily.\n\nI would be grateful for your assessment.\n\nKind regards,\n\
Dr Anna Lee\nHarbour Street Medical Centre",
    },
    Letter {
        from: 1,
        to: 0,
        patient: ["O'Brien", "Sean", "M", "01/02/1960"],
        subject: "Cardiology consultation",
        body: "Dear Dr Lee,\n\nThank you for referring Sean. His exercise stress test was positive at \
8 minutes. I have started aspirin 100 mg daily and arranged a CT coronary angiogram.\n\n\
Plan: review in four weeks with the results.\n\nYours sincerely,\nDr Priya Sharma\nCardiologist",
    },
    Letter {
        from: 1,
        to: 0,
        patient: ["Nguyen", "Thi", "F", "15/08/1975"],
        subject: "Echocardiogram results",
        body: "Dear Dr Lee,\n\nThi's echocardiogram shows normal left ventricular size and function \
(ejection fraction 60%) and mild mitral regurgitation. No follow-up is needed for this.\n\n\
Yours sincerely,\nDr Priya Sharma\nCardiologist",
    },
];

/// Sets up the demo once; returns the logins to print.
pub async fn prepare(
    data: &DataDir,
    domain: &str,
    kdf: KdfParams,
    authenticator: &Authenticator,
    submitter: &dyn Submitter,
) -> Result<Vec<DemoLogin>> {
    let s = data.store.as_ref();
    let clock = data.clock.as_ref();
    let list = practices();
    let address = |p: &Practice| format!("{}@{domain}", p.local);
    let fresh = s.account_by_address(&address(&list[0])).await?.is_none();
    if fresh {
        for p in &list {
            let reg = Registration {
                kind: p.kind,
                address: address(p),
                entry: p.entry.clone(),
            };
            let done = accounts::register(s, clock, &reg, p.password, kdf)
                .await
                .with_context(|| format!("demo account {}", address(p)))?;
            let account = s
                .account(done.created.account_id)
                .await?
                .context("demo account vanished")?;
            athen_core::lifecycle::change_status(
                s,
                clock,
                &account,
                StatusAction::Confirm,
                "demo",
                "a demo account",
            )
            .await?;
        }
        // Harbour Street gets HL7 files for its clinical system.
        let harbour = s
            .account_by_address(&address(&list[0]))
            .await?
            .context("demo account vanished")?;
        let mut settings = s.settings(harbour.mailbox_id).await?;
        settings.delivery_formats = vec!["hl7-oru".into()];
        s.set_settings(harbour.mailbox_id, &settings).await?;
        if s.count_operators().await? == 0 {
            let verifier = athen_vault::codes::password_verifier(ADMIN_PASSWORD.as_bytes(), kdf)?;
            s.add_operator("Demo Administrator", ADMIN_LOGIN, verifier, clock.now())
                .await?;
        }
        for l in &LETTERS {
            send(data, domain, authenticator, submitter, &list, l).await?;
        }
        tracing::info!("demo practices made, letters exchanged");
    }
    let mut out: Vec<DemoLogin> = list
        .iter()
        .map(|p| DemoLogin {
            who: p.who,
            login: address(p),
            password: p.password,
        })
        .collect();
    if s.operator_by_login(ADMIN_LOGIN).await?.is_some() {
        out.push(DemoLogin {
            who: "the administrator (at /admin)",
            login: ADMIN_LOGIN.into(),
            password: ADMIN_PASSWORD,
        });
    }
    Ok(out)
}

async fn send(
    data: &DataDir,
    domain: &str,
    authenticator: &Authenticator,
    submitter: &dyn Submitter,
    list: &[Practice],
    l: &Letter,
) -> Result<()> {
    let (from, to) = (&list[l.from], &list[l.to]);
    let from_address = format!("{}@{domain}", from.local);
    let to_address = format!("{}@{domain}", to.local);
    let sender = authenticator
        .unlock(&from_address, from.password, None, Doors::API)
        .await
        .context("demo sender")?;
    let [family, given, sex, dob] = l.patient;
    let patient = PatientInput {
        family_name: family.into(),
        given_names: given.into(),
        sex: sex.into(),
        birth_date: dob.into(),
        ..PatientInput::default()
    }
    .validate(Date::from_unix(data.clock.now()))
    .map_err(|problems| anyhow::anyhow!("demo patient: {problems:?}"))?;
    let name = sender.account.name.clone();
    let message = format!(
        "From: {name} <{from_address}>\r\nTo: {to_address}\r\nSubject: {}\r\nX-Athen-Patient: {}\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
        patient.subject(l.subject),
        patient.header(),
        l.body.replace('\n', "\r\n"),
    );
    submitter
        .send(
            SendAs {
                address: &from_address,
                mailbox: sender.account.mailbox_id,
                login: &sender.login.name,
                secret: &sender.secret,
                ask_receipt: true,
            },
            std::slice::from_ref(&to_address),
            message.as_bytes(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("demo letter to {to_address}: {e:?}"))?;
    Ok(())
}
