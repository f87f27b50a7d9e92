//! `athen admin`: the operator's command line. Works directly on the data
//! directory, so it can run beside a running server (SQLite coordinates)
//! or with the server stopped. Every command takes `--json` for scripts;
//! exit codes are listed in `athen admin --help`.
//!
//! Keep this interface stable: operators and the test suite script it.

use crate::config::Config;
use crate::context::DataDir;
use crate::output::{CommandError, exit, finish};
use athen_core::account::{Account, AccountEvent, AccountKind, AccountStatus, Doors, StatusAction};
use athen_core::clock::rfc3339;
use athen_core::directory::{Category, DirectoryEntry, DirectoryQuery, EntryInput, EntryRole};
use athen_core::lifecycle;
use athen_core::queue::QueuedMessage;
use athen_core::store::{
    AccountFilter, AccountStore, AuditStore, CredentialStore, DirectoryStore, MailboxStore,
    OperatorStore, QueueStore, SpoolStore,
};
use athen_core::{CredentialId, EntryId, QueueId};
use athen_vault::accounts::{self, Registration};
use athen_vault::codes;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use zeroize::Zeroizing;

mod account;
mod credentials;
mod letters;
mod mail;
mod operators;
mod staff;

use account::AccountCommand;
use credentials::{CredentialCommand, LoginCommand, TokenCommand};
use letters::LettersCommand;
use mail::{AuditCommand, QueueCommand};
use operators::OperatorCommand;
use staff::StaffCommand;

#[derive(Args)]
#[command(after_long_help = "\
EXIT CODES:
  0  done
  1  storage or other failure; nothing was changed
  2  input not accepted (each problem is listed; with --json under \"problems\")
  3  the account, login or entry named does not exist
  4  not allowed in the current state, or already exists
  5  the credential given was not accepted, or too many attempts

Passwords and recovery codes are read from standard input, one per line, never
from the command line (where other users of the machine could see them).

EXAMPLE:
  printf '%s\\n' 'a long passphrase' | athen admin --data-dir DIR account create \\
      --kind individual --name 'Jane Citizen' --address jane@example.test --password-stdin --json")]
pub struct AdminArgs {
    /// The data directory [default: the config's data_dir, else ./athen-data].
    #[arg(long, env = "ATHEN_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// A configuration file, for Argon2 and expiry settings and the data directory.
    #[arg(long, env = "ATHEN_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Print results as JSON (errors too, with exit codes unchanged).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum AdminCommand {
    /// Organisation and individual accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Staff listed under an organisation.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Staff logins on an organisation's mailbox.
    #[command(subcommand)]
    Login(LoginCommand),
    /// App tokens for the downloader and mail programs.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Passwords, recovery codes and the last-resort reset.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Server administrators (they confirm accounts; they cannot read mail).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Welcome letters with confirmation codes: print, mark as posted, resend.
    #[command(subcommand)]
    Letters(LettersCommand),
    /// Search the directory as the public sees it (or everything, with --all).
    Directory(SearchArgs),
    /// The outbound queue: envelopes and delivery state only, never content.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Mailboxes' audit trails, checked without reading them.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Seal a message (RFC 5322 file, or standard input) into an account's
    /// spool, exactly as the mail server does on receipt.
    Deliver {
        /// The recipient account's address.
        #[arg(long)]
        to: String,
        /// The message file; standard input if absent.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Args, Default)]
struct EntryArgs {
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    given: Option<String>,
    #[arg(long)]
    family: Option<String>,
    /// Role in the organisation (staff), e.g. "Practice Manager".
    #[arg(long)]
    position: Option<String>,
    #[arg(long)]
    specialty: Option<String>,
    /// general-practice, specialist-rooms, hospital, allied-health, community-health,
    /// headspace, law-firm, police, disability-ngo, child-protection.
    #[arg(long)]
    category: Option<String>,
    #[arg(long)]
    street: Option<String>,
    #[arg(long)]
    suburb: Option<String>,
    /// NSW, VIC, QLD, SA, WA, TAS, NT or ACT.
    #[arg(long)]
    state: Option<String>,
    #[arg(long)]
    postcode: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    fax: Option<String>,
    /// Medicare provider number; repeat for several.
    #[arg(long = "provider-number")]
    provider_numbers: Vec<String>,
    #[arg(long)]
    ahpra: Option<String>,
    /// HPI-I (people) or HPI-O (organisations).
    #[arg(long)]
    hpi: Option<String>,
}

impl EntryArgs {
    fn input(&self) -> EntryInput {
        EntryInput {
            title: self.title.clone(),
            given_name: self.given.clone(),
            family_name: self.family.clone(),
            organisation_name: None,
            position: self.position.clone(),
            specialty: self.specialty.clone(),
            category: self.category.clone(),
            street: self.street.clone(),
            suburb: self.suburb.clone(),
            state: self.state.clone(),
            postcode: self.postcode.clone(),
            phone: self.phone.clone(),
            fax: self.fax.clone(),
            provider_numbers: self.provider_numbers.clone(),
            ahpra: self.ahpra.clone(),
            hpi: self.hpi.clone(),
        }
    }
}

#[derive(Args)]
struct SearchArgs {
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    provider_number: Option<String>,
    /// Suburb or postcode.
    #[arg(long)]
    place: Option<String>,
    #[arg(long)]
    specialty: Option<String>,
    #[arg(long)]
    category: Option<String>,
    /// Include accounts that are not (or no longer) confirmed.
    #[arg(long)]
    all: bool,
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

type Outcome = Result<(Value, String), CommandError>;

/// Reads `n` lines from standard input (secrets: zeroized after use).
fn stdin_lines(n: usize, what: &str) -> Result<Vec<Zeroizing<String>>, CommandError> {
    let mut buf = Zeroizing::new(String::new());
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut buf)
        .map_err(|e| CommandError::invalid(format!("cannot read standard input: {e}")))?;
    let lines: Vec<Zeroizing<String>> = buf
        .split('\n')
        .map(|l| Zeroizing::new(l.strip_suffix('\r').unwrap_or(l).to_string()))
        .take(n)
        .collect();
    if lines.len() < n || lines.iter().any(|l| l.is_empty()) {
        return Err(CommandError::invalid(format!(
            "expected on standard input: {what}"
        )));
    }
    Ok(lines)
}

fn require_stdin(flag: bool) -> Result<(), CommandError> {
    if flag {
        Ok(())
    } else {
        Err(CommandError::invalid(
            "secrets are read from standard input: add --password-stdin and pipe them in",
        ))
    }
}

pub async fn run(args: AdminArgs) -> ExitCode {
    let json_mode = args.json;
    let result = run_inner(args).await;
    finish(json_mode, result)
}

async fn run_inner(args: AdminArgs) -> Outcome {
    let config = match &args.config {
        Some(p) => Config::load(p).map_err(|e| CommandError::invalid(format!("{e:#}")))?,
        None => Config::default(),
    };
    let dir = args
        .data_dir
        .clone()
        .or_else(|| args.config.as_ref().map(|_| config.server.data_dir.clone()))
        .unwrap_or_else(|| PathBuf::from("athen-data"));
    let data = DataDir::open(&dir).await?;
    let a = Admin { data, config };
    let out = match args.command {
        AdminCommand::Account(c) => a.account(c).await,
        AdminCommand::Staff(c) => a.staff(c).await,
        AdminCommand::Login(c) => a.login(c).await,
        AdminCommand::Token(c) => a.token(c).await,
        AdminCommand::Credential(c) => a.credential(c).await,
        AdminCommand::Operator(c) => a.operator(c).await,
        AdminCommand::Letters(c) => a.letters(c).await,
        AdminCommand::Directory(s) => a.search(s).await,
        AdminCommand::Queue(c) => a.queue(c).await,
        AdminCommand::Audit(c) => a.audit(c).await,
        AdminCommand::Deliver { to, file } => a.deliver(&to, file).await,
    };
    a.data.store.close().await;
    out
}

struct Admin {
    data: DataDir,
    config: Config,
}

const ACTOR: &str = "admin-cli";

fn time(t: Option<i64>) -> Value {
    t.map(|t| Value::String(rfc3339(t))).unwrap_or(Value::Null)
}

fn not_in_queue(id: i64) -> CommandError {
    CommandError::new(
        exit::NOT_FOUND,
        format!("message {id} is not in the queue (delivered or given up)"),
    )
}

/// A queued message for the operator: the envelope and delivery state,
/// never the (encrypted) content.
fn queued_json(m: &QueuedMessage) -> Value {
    json!({
        "id": m.id.0,
        "mail_from": m.mail_from,
        "envid": m.envid,
        "size": m.size,
        "queued_at": rfc3339(m.created_at),
        "recipients": m.recipients.iter().map(|r| json!({
            "address": r.address,
            "state": r.state.as_str(),
            "attempts": r.attempts,
            "next_attempt_at": rfc3339(r.next_attempt_at),
            "last_reply": r.last_reply,
            "remote_host": r.remote_host,
            "tls": r.tls,
        })).collect::<Vec<_>>(),
    })
}

fn queued_text(m: &QueuedMessage) -> String {
    let mut out = format!(
        "{} from <{}>, {} bytes, queued {}",
        m.id.0,
        m.mail_from,
        m.size,
        rfc3339(m.created_at)
    );
    for r in &m.recipients {
        out.push_str(&format!(
            "\n  {} {} after {} attempt(s), next {}: {}",
            r.address,
            r.state.as_str(),
            r.attempts,
            rfc3339(r.next_attempt_at),
            r.last_reply.as_deref().unwrap_or("not tried yet")
        ));
        if let Some(tls) = &r.tls {
            out.push_str(&format!("\n    connection: {tls}"));
        }
    }
    out
}

fn entry_json(e: &DirectoryEntry) -> Value {
    let mut v = serde_json::to_value(&e.details).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("id".into(), json!(e.id.0));
        m.insert("role".into(), json!(e.role.as_str()));
        m.insert("display_name".into(), json!(e.details.display_name()));
    }
    v
}

impl Admin {
    async fn account_by_address(&self, address: &str) -> Result<Account, CommandError> {
        let a = address.trim().to_ascii_lowercase();
        self.data
            .store
            .account_by_address(&a)
            .await?
            .ok_or_else(|| CommandError::not_found(format!("no account has the address {a}")))
    }

    async fn search(&self, a: SearchArgs) -> Outcome {
        let q = DirectoryQuery {
            name: a.name,
            provider_number: a.provider_number,
            place: a.place,
            specialty: a.specialty,
            category: a.category.map(|c| c.parse::<Category>()).transpose()?,
            include_unconfirmed: a.all,
            limit: a.limit,
        };
        let hits = self.data.store.search(&q).await?;
        let rows: Vec<Value> = hits
            .iter()
            .map(|h| json!({"entry": entry_json(&h.entry), "organisation": h.organisation.as_ref().map(entry_json), "address": h.address, "account_status": h.account_status.as_str()}))
            .collect();
        let text = hits
            .iter()
            .map(|h| match &h.organisation {
                Some(o) => format!(
                    "{} (at {}) <{}>",
                    h.entry.details.display_name(),
                    o.details.display_name(),
                    h.address
                ),
                None => format!("{} <{}>", h.entry.details.display_name(), h.address),
            })
            .collect::<Vec<_>>()
            .join("\n");
        Ok((
            json!({"results": rows}),
            if text.is_empty() {
                "no matches".into()
            } else {
                text
            },
        ))
    }
}
