//! `athen mailbox`: open a mailbox with its own credential, as a mail
//! program would, to list and read mail and its audit trail. Opening runs
//! the unspooler, so mail waiting sealed in the spool moves into the
//! mailbox store and events kept while it was locked join its trail.

use crate::config::Config;
use crate::context::DataDir;
use crate::output::{CommandError, finish};
use athen_core::account::Doors;
use athen_core::clock::rfc3339;
use athen_core::store::MailboxStore;
use athen_mail::{audit, read, unspool};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use zeroize::Zeroizing;

#[derive(Args)]
pub struct MailboxArgs {
    #[arg(
        long,
        env = "ATHEN_DATA_DIR",
        default_value = "athen-data",
        global = true
    )]
    data_dir: PathBuf,
    /// The login name (the account's address, or a staff login).
    #[arg(long)]
    login: String,
    /// Read the password or app token from standard input.
    #[arg(long, global = true)]
    password_stdin: bool,
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: MailboxCommand,
}

#[derive(Subcommand)]
enum MailboxCommand {
    /// List a folder (after moving waiting mail in from the spool).
    List {
        #[arg(long, default_value = "Inbox")]
        folder: String,
    },
    /// Write one message, exactly as received, to standard output. Opening
    /// it is recorded in the audit trail, and a read receipt is sent if the
    /// letter asked for one and the settings allow (senders on this server
    /// only; see docs/operations.md).
    Read {
        uid: u32,
        #[arg(long, default_value = "Inbox")]
        folder: String,
    },
    /// Show or change the mailbox's settings.
    Settings {
        /// Delivery formats for the clinical system, in order of
        /// preference, comma separated: hl7-oru, hl7-ref, pit, pit-rtf
        /// (HL7 as adrm2021, or with :as4700). "none" turns conversion off.
        #[arg(long)]
        delivery_formats: Option<String>,
        /// Read receipts for letters that ask: always (the default), ask,
        /// or never.
        #[arg(long)]
        receipts: Option<String>,
    },
    /// The audit trail: every event, or those of one message (by its UID
    /// in --folder, or its Message-ID).
    Audit {
        uid: Option<u32>,
        #[arg(long, default_value = "Inbox")]
        folder: String,
        #[arg(long, conflicts_with = "uid")]
        message_id: Option<String>,
    },
}

pub async fn run(args: MailboxArgs) -> ExitCode {
    let json_mode = args.json;
    let result = run_inner(args).await;
    finish(json_mode, result)
}

async fn run_inner(args: MailboxArgs) -> Result<(Value, String), CommandError> {
    if !args.password_stdin {
        return Err(CommandError::invalid(
            "give the password or app token on standard input with --password-stdin",
        ));
    }
    let mut secret = Zeroizing::new(String::new());
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut secret)
        .map_err(|e| CommandError::invalid(format!("cannot read standard input: {e}")))?;
    let secret = Zeroizing::new(secret.lines().next().unwrap_or("").to_string());
    let config = Config::default();
    let data = DataDir::open(&args.data_dir).await?;
    let s = data.store.clone();
    let unlocked = data
        .authenticator(&config)
        .unlock(&args.login, &secret, None, Doors::API)
        .await?;
    let mailbox = unlocked.account.mailbox_id;
    let setup =
        athen_mail::conversion::ConversionSetup::for_account(s.as_ref(), &unlocked.account).await?;
    let report = unspool::unspool_mailbox(
        data.blobs.as_ref(),
        s.as_ref(),
        s.as_ref(),
        s.as_ref(),
        mailbox,
        &unlocked.secret,
        &setup,
    )
    .await?;
    let result = match args.command {
        MailboxCommand::List { folder } => {
            let f = read::folder(s.as_ref(), mailbox, &folder).await?;
            let list = read::list(s.as_ref(), mailbox, &f, &unlocked.secret).await?;
            let rows: Vec<Value> = list
                .iter()
                .map(|m| json!({"uid": m.message.uid, "size": m.message.size, "received_at": rfc3339(m.message.received_at), "subject": m.meta.subject, "from": m.meta.from, "to": m.meta.to, "date": m.meta.date, "message_id": m.meta.message_id}))
                .collect();
            let text = list
                .iter()
                .map(|m| {
                    format!(
                        "{:>5}  {}  {:<30}  {}",
                        m.message.uid,
                        &rfc3339(m.message.received_at)[..16],
                        m.meta.from.first().map(String::as_str).unwrap_or(""),
                        m.meta.subject.as_deref().unwrap_or("(no subject)")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Ok((
                json!({"folder": f.name, "unspooled": report.moved, "damaged_spool_entries": report.damaged.iter().map(|d| d.0).collect::<Vec<_>>(), "messages": rows}),
                if text.is_empty() {
                    format!("{} is empty", f.name)
                } else {
                    text
                },
            ))
        }
        MailboxCommand::Read { uid, folder } => {
            let f = read::folder(s.as_ref(), mailbox, &folder).await?;
            let m = s
                .messages(mailbox, f.id)
                .await?
                .into_iter()
                .find(|m| m.uid == uid)
                .ok_or_else(|| {
                    CommandError::not_found(format!("{} has no message {uid}", f.name))
                })?;
            let raw = read::raw_message(data.blobs.as_ref(), &unlocked.secret, &m).await?;
            std::io::stdout().write_all(&raw).map_err(|e| {
                CommandError::new(crate::output::exit::FAILURE, format!("cannot write: {e}"))
            })?;
            let reader = athen_mail::mdn::Reader {
                mailbox,
                secret: &unlocked.secret,
                address: &unlocked.account.address,
                login: &unlocked.login.name,
                policy: s.settings(mailbox).await?.receipt_policy,
                hostname: &config.server.hostname,
            };
            let outcome = athen_mail::mdn::letter_opened(
                s.as_ref(),
                data.blobs.as_ref(),
                None,
                &reader,
                &raw,
                data.clock.now(),
            )
            .await?;
            if let athen_mail::mdn::ReceiptOutcome::OtherServer(to) = outcome {
                eprintln!(
                    "athen mailbox: no read receipt sent to {to}: the sender is on another server"
                );
            }
            Ok((Value::Null, String::new()))
        }
        MailboxCommand::Settings {
            delivery_formats,
            receipts,
        } => {
            let mut settings = s.settings(mailbox).await?;
            if let Some(p) = receipts {
                settings.receipt_policy = athen_core::mailbox::ReceiptPolicy::parse(&p)
                    .ok_or_else(|| {
                        CommandError::invalid("--receipts: always, ask or never".to_string())
                    })?;
            }
            if let Some(list) = delivery_formats {
                let wanted: Vec<&str> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty() && !f.eq_ignore_ascii_case("none"))
                    .collect();
                let mut formats = Vec::new();
                for f in wanted {
                    let format = athen_clinical::write::Format::parse(f)
                        .map_err(|e| CommandError::invalid(format!("--delivery-formats: {e}")))?;
                    formats.push(format.name());
                }
                settings.delivery_formats = formats;
            }
            s.set_settings(mailbox, &settings).await?;
            let formats = if settings.delivery_formats.is_empty() {
                "none (letters are not converted)".to_string()
            } else {
                settings.delivery_formats.join(", ")
            };
            Ok((
                json!({"delivery_formats": settings.delivery_formats, "receipts": settings.receipt_policy.as_str()}),
                format!(
                    "delivery formats: {formats}\nread receipts: {}",
                    settings.receipt_policy.as_str()
                ),
            ))
        }
        MailboxCommand::Audit {
            uid,
            folder,
            message_id,
        } => {
            let about = match (uid, message_id) {
                (Some(uid), _) => {
                    let f = read::folder(s.as_ref(), mailbox, &folder).await?;
                    let list = read::list(s.as_ref(), mailbox, &f, &unlocked.secret).await?;
                    let m = list
                        .into_iter()
                        .find(|m| m.message.uid == uid)
                        .ok_or_else(|| {
                            CommandError::not_found(format!("{} has no message {uid}", f.name))
                        })?;
                    Some(m.meta.message_id.ok_or_else(|| {
                        CommandError::not_found(format!("message {uid} has no Message-ID"))
                    })?)
                }
                (None, id) => id,
            };
            let all = audit::trail(s.as_ref(), mailbox, &unlocked.secret).await?;
            let items = match &about {
                Some(id) => audit::of_message(all, id),
                None => all,
            };
            let rows: Vec<Value> = items.iter().map(audit::TrailItem::to_json).collect();
            let text = items
                .iter()
                .map(|i| {
                    let e = &i.event;
                    let mut line = format!(
                        "{}  {:<10}",
                        rfc3339(i.at).get(..19).unwrap_or_default(),
                        e.kind.map(audit::EventKind::as_str).unwrap_or("?")
                    );
                    for part in [&e.correspondent, &e.detail, &e.remote_host, &e.tls]
                        .into_iter()
                        .flatten()
                    {
                        line.push_str("  ");
                        line.push_str(part);
                    }
                    line
                })
                .collect::<Vec<_>>()
                .join("\n");
            Ok((
                json!({"audit_merged": report.audit_merged, "events": rows}),
                if text.is_empty() {
                    "no audit events".to_string()
                } else {
                    text
                },
            ))
        }
    };
    s.close().await;
    result
}
