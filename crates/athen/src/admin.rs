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

// Parsed once per run: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account (provisional until confirmed). Prints the recovery
    /// code and the confirmation code for the welcome letter, once.
    Create {
        /// organisation or individual.
        #[arg(long)]
        kind: String,
        /// The organisation's name, or the person's full name ("Jane Citizen";
        /// the last word is taken as the family name unless --family is given).
        #[arg(long)]
        name: String,
        /// The account's e-mail address; also its login name.
        #[arg(long)]
        address: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        entry: EntryArgs,
    },
    /// List accounts.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        kind: Option<String>,
    },
    /// Everything about one account (no secrets, no mail).
    Show { address: String },
    /// Confirm a provisional account: with --code, the code from its letter
    /// is checked; without, the administrator confirms by hand.
    Confirm {
        address: String,
        #[arg(long)]
        code: Option<String>,
    },
    /// Suspend an account: it cannot log in or receive mail; nothing is lost.
    Suspend {
        address: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Lift a suspension.
    Reinstate { address: String },
    /// Close an account for good. Its data is kept; it cannot be reopened.
    Close {
        address: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Flag accounts unconfirmed too long, and close flagged ones past their
    /// grace period (the server does this hourly).
    Sweep,
    /// The account's history of administrative events.
    Events { address: String },
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum StaffCommand {
    /// List a staff member under an organisation (for the directory).
    Add {
        /// The organisation's address.
        address: String,
        #[command(flatten)]
        entry: EntryArgs,
    },
    List {
        address: String,
    },
    Remove {
        address: String,
        entry_id: i64,
    },
}

#[derive(Subcommand)]
enum LoginCommand {
    /// Give a staff member their own login on the organisation's mailbox.
    /// Standard input: line 1 the organisation's password, line 2 the new
    /// staff password.
    Add {
        /// The organisation's address.
        address: String,
        /// The staff entry id (see `staff list`).
        #[arg(long)]
        staff: i64,
        /// The login name, e.g. jane.citizen@clinic.example; defaults to
        /// given.family+<organisation address>.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    List {
        address: String,
    },
    /// Disable a login; its credentials stop working at once.
    Disable {
        login: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue an app token for a login. Standard input: the login's password.
    /// The token is printed once.
    Issue {
        login: String,
        #[arg(long)]
        label: String,
        /// What the token opens: downloader, api, imap, smtp (comma
        /// separated) or all; never the web app.
        #[arg(long = "for", default_value = "all")]
        doors: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List an account's tokens (names and dates, never the tokens).
    List { address: String },
    /// Revoke a token by id; it stops working at once.
    Revoke { address: String, id: i64 },
}

#[derive(Subcommand)]
enum CredentialCommand {
    /// Change a login's password. Standard input: line 1 the current password,
    /// line 2 the new one. Mail is untouched (the key is re-wrapped).
    ChangePassword {
        login: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password with the recovery code. Standard input: line 1 the
    /// recovery code, line 2 the new password. Mail is kept; a new recovery
    /// code is printed (the old one stops working).
    Recover {
        address: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Turn two-step sign-in off for a login whose phone is lost, once you
    /// have made sure who is asking. The password alone then signs in
    /// again, and the person can set it up anew in Settings.
    TwoStepOff { login: String },
    /// LAST RESORT, when every credential is lost: new keys and a new
    /// password (standard input). ALL EXISTING MAIL OF THE ACCOUNT BECOMES
    /// UNREADABLE FOR EVER (it is kept, but nobody can decrypt it), and staff
    /// logins and app tokens stop working. Requires --discard-mail.
    Reset {
        address: String,
        /// Confirms that the account's existing mail will be lost.
        #[arg(long)]
        discard_mail: bool,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum LettersCommand {
    /// The letters waiting to be posted.
    List,
    /// Writes the letters waiting to be posted into one PDF to print.
    Print {
        /// The PDF file to write.
        #[arg(long)]
        out: PathBuf,
        /// Also the letters already posted (of accounts still unconfirmed).
        #[arg(long)]
        all: bool,
        /// The confirmation page printed in the letters [default:
        /// https://HOSTNAME/confirm, with the configuration's hostname].
        #[arg(long)]
        confirm_url: Option<String>,
    },
    /// Records that these accounts' letters were posted.
    Posted {
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// A new letter with a new code for an account whose letter was lost;
    /// the old code stops working.
    Resend { address: String },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Every message waiting in the queue, with each recipient's state.
    List,
    /// One queued message.
    Show { id: i64 },
    /// Try the waiting recipients of a message at the next queue pass.
    Retry { id: i64 },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check that every entry of each trail follows from the one before it
    /// (nothing removed, moved or changed). Needs no key and shows no
    /// content. Exit code 1 if any trail is broken.
    Verify {
        /// Only this account's mailbox.
        #[arg(long)]
        address: Option<String>,
    },
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Create an administrator. Standard input: the password.
    Create {
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Turn an administrator's two-step sign-in off (a lost phone): the
    /// password alone signs in again.
    TwoStepOff { login: String },
    /// Print a new one-time link for creating the first administrator.
    SetupLink {
        /// The server's HTTPS base URL.
        #[arg(long, default_value = "https://localhost:8443/")]
        base_url: String,
    },
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

    async fn account_json(&self, a: &Account) -> Result<Value, CommandError> {
        let s = &self.data.store;
        let entries = s.entries_of_account(a.id).await?;
        let own = entries
            .iter()
            .find(|e| e.id == a.entry_id)
            .map(entry_json)
            .unwrap_or(Value::Null);
        let staff: Vec<Value> = entries
            .iter()
            .filter(|e| e.role == EntryRole::Staff)
            .map(entry_json)
            .collect();
        let logins: Vec<Value> = s
            .logins_of_account(a.id)
            .await?
            .iter()
            .map(|l| json!({"id": l.id.0, "name": l.name, "staff_entry_id": l.staff_entry_id.map(|e| e.0), "created_at": rfc3339(l.created_at), "disabled_at": time(l.disabled_at)}))
            .collect();
        let mailbox = s.mailbox(a.mailbox_id).await?;
        Ok(json!({
            "id": a.id.0,
            "kind": a.kind.as_str(),
            "status": a.status.as_str(),
            "address": a.address,
            "name": a.name,
            "created_at": rfc3339(a.created_at),
            "status_changed_at": rfc3339(a.status_changed_at),
            "confirmed_at": time(a.confirmed_at),
            "flagged_at": time(a.flagged_at),
            "mailbox": {
                "id": a.mailbox_id.0,
                "public_key": mailbox.map(|m| m.public_key),
                "messages": s.count_messages(a.mailbox_id).await?,
                "spooled": s.spool_entries(a.mailbox_id).await?.len(),
            },
            "directory": own,
            "staff": staff,
            "logins": logins,
        }))
    }

    fn account_text(v: &Value) -> String {
        format!(
            "{} <{}>\n  kind: {}  status: {}  created: {}\n  mailbox: {} ({} messages, {} waiting in the spool)",
            v["name"].as_str().unwrap_or(""),
            v["address"].as_str().unwrap_or(""),
            v["kind"].as_str().unwrap_or(""),
            v["status"].as_str().unwrap_or(""),
            v["created_at"].as_str().unwrap_or(""),
            v["mailbox"]["id"],
            v["mailbox"]["messages"],
            v["mailbox"]["spooled"],
        )
    }

    async fn account(&self, cmd: AccountCommand) -> Outcome {
        let s = &self.data.store;
        let clock = self.data.clock.as_ref();
        match cmd {
            AccountCommand::Create {
                kind,
                name,
                address,
                password_stdin,
                entry,
            } => {
                require_stdin(password_stdin)?;
                let kind: AccountKind = kind.parse()?;
                let mut input = entry.input();
                match kind {
                    AccountKind::Organisation => input.organisation_name = Some(name.clone()),
                    AccountKind::Individual => {
                        if input.family_name.is_none() {
                            let name = name.trim();
                            let (given, family) = match name.rsplit_once(' ') {
                                Some((g, f)) => (Some(g.trim().to_string()), f.to_string()),
                                None => (None, name.to_string()),
                            };
                            input.family_name = Some(family);
                            if input.given_name.is_none() {
                                input.given_name = given;
                            }
                        }
                    }
                }
                let pw = stdin_lines(1, "the new account's password")?;
                let reg = Registration {
                    kind,
                    address,
                    entry: input,
                };
                let done =
                    accounts::register(s.as_ref(), clock, &reg, &pw[0], self.config.kdf_params())
                        .await?;
                let key = crate::keys::queue_key(&self.data.path)
                    .map_err(|e| CommandError::new(exit::FAILURE, e.to_string()))?;
                accounts::keep_welcome_letter(
                    s.as_ref(),
                    clock,
                    &key,
                    done.created.account_id,
                    &done.confirmation_code,
                    ACTOR,
                )
                .await?;
                let account = s.account(done.created.account_id).await?.ok_or_else(|| {
                    CommandError::new(exit::FAILURE, "account vanished after creation")
                })?;
                let mut v = self.account_json(&account).await?;
                v["recovery_code"] = json!(done.recovery_code.as_str());
                v["confirmation_code"] = json!(done.confirmation_code.as_str());
                let text = format!(
                    "{}\n\nRecovery code (shown only now; give it to the account holder to keep safe):\n  {}\n\
Confirmation code for the welcome letter:\n  {}",
                    Self::account_text(&v),
                    done.recovery_code.as_str(),
                    done.confirmation_code.as_str()
                );
                Ok((v, text))
            }
            AccountCommand::List { status, kind } => {
                let filter = AccountFilter {
                    status: status.map(|x| x.parse::<AccountStatus>()).transpose()?,
                    kind: kind.map(|x| x.parse::<AccountKind>()).transpose()?,
                    provisional_before: None,
                };
                let list = s.list_accounts(&filter).await?;
                let rows: Vec<Value> = list
                    .iter()
                    .map(|a| json!({"id": a.id.0, "address": a.address, "name": a.name, "kind": a.kind.as_str(), "status": a.status.as_str(), "created_at": rfc3339(a.created_at), "flagged_at": time(a.flagged_at)}))
                    .collect();
                let text = list
                    .iter()
                    .map(|a| {
                        format!(
                            "{:<40} {:<12} {:<12} {}{}",
                            a.address,
                            a.kind,
                            a.status,
                            a.name,
                            if a.flagged_at.is_some() {
                                "  [flagged: unconfirmed too long]"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((
                    json!({"accounts": rows}),
                    if text.is_empty() {
                        "no accounts".into()
                    } else {
                        text
                    },
                ))
            }
            AccountCommand::Show { address } => {
                let a = self.account_by_address(&address).await?;
                let v = self.account_json(&a).await?;
                let text = Self::account_text(&v);
                Ok((v, text))
            }
            AccountCommand::Confirm { address, code } => {
                let a = self.account_by_address(&address).await?;
                let how = match code {
                    Some(code) => {
                        let hash = s.confirmation_hash(a.id).await?;
                        if !hash.is_some_and(|h| codes::code_matches(&code, &h)) {
                            return Err(CommandError::new(
                                exit::DENIED,
                                "that confirmation code is not right for this account",
                            ));
                        }
                        "with the code from the welcome letter"
                    }
                    None => "by the administrator",
                };
                self.status(&a, StatusAction::Confirm, how).await
            }
            AccountCommand::Suspend { address, reason } => {
                let a = self.account_by_address(&address).await?;
                self.status(&a, StatusAction::Suspend, &reason).await
            }
            AccountCommand::Reinstate { address } => {
                let a = self.account_by_address(&address).await?;
                self.status(&a, StatusAction::Reinstate, "").await
            }
            AccountCommand::Close { address, reason } => {
                let a = self.account_by_address(&address).await?;
                self.status(&a, StatusAction::Close, &reason).await
            }
            AccountCommand::Sweep => {
                let r =
                    lifecycle::sweep_unconfirmed(s.as_ref(), clock, self.config.expiry_policy())
                        .await?;
                let text = format!(
                    "flagged: {}\nclosed: {}",
                    r.flagged.join(", "),
                    r.closed.join(", ")
                );
                Ok((serde_json::to_value(&r).unwrap_or(Value::Null), text))
            }
            AccountCommand::Events { address } => {
                let a = self.account_by_address(&address).await?;
                let ev = s.events(a.id).await?;
                let rows: Vec<Value> = ev
                    .iter()
                    .map(|e| json!({"at": rfc3339(e.at), "actor": e.actor, "event": e.event, "detail": e.detail}))
                    .collect();
                let text = ev
                    .iter()
                    .map(|e| {
                        format!(
                            "{}  {:<18} {:<10} {}",
                            rfc3339(e.at),
                            e.event,
                            e.actor,
                            e.detail
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((json!({"events": rows}), text))
            }
        }
    }

    async fn status(&self, a: &Account, action: StatusAction, reason: &str) -> Outcome {
        let next = lifecycle::change_status(
            self.data.store.as_ref(),
            self.data.clock.as_ref(),
            a,
            action,
            ACTOR,
            reason,
        )
        .await?;
        let text = format!("{}: {} → {}", a.address, a.status, next);
        Ok((
            json!({"address": a.address, "previous": a.status.as_str(), "status": next.as_str()}),
            text,
        ))
    }

    async fn letters(&self, cmd: LettersCommand) -> Outcome {
        let s = &self.data.store;
        let clock = self.data.clock.as_ref();
        let key = crate::keys::queue_key(&self.data.path)
            .map_err(|e| CommandError::new(exit::FAILURE, e.to_string()))?;
        match cmd {
            LettersCommand::List => {
                let mut rows = Vec::new();
                for l in s.welcome_letters(true).await? {
                    if let Some(a) = s.account(l.account_id).await? {
                        rows.push(json!({"address": a.address, "name": a.name, "made_at": rfc3339(l.created_at), "posted_at": time(l.posted_at)}));
                    }
                }
                let text = rows
                    .iter()
                    .map(|r| {
                        format!(
                            "{:<40} {:<10} {}",
                            r["address"].as_str().unwrap_or(""),
                            if r["posted_at"].is_null() {
                                "to post"
                            } else {
                                "posted"
                            },
                            r["name"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((
                    json!({"letters": rows}),
                    if text.is_empty() {
                        "no letters".into()
                    } else {
                        text
                    },
                ))
            }
            LettersCommand::Print {
                out,
                all,
                confirm_url,
            } => {
                let url = confirm_url
                    .unwrap_or_else(|| format!("https://{}/confirm", self.config.server.hostname));
                // The letterhead names the server the letter sends people to.
                let server = url
                    .split("://")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                    .unwrap_or(&self.config.server.hostname)
                    .to_string();
                let batch = athen_web::welcome_letter::print_waiting(
                    s.as_ref(),
                    &key,
                    all,
                    &url,
                    &server,
                    clock.now(),
                )
                .await
                .map_err(|e| CommandError::new(exit::FAILURE, e))?;
                let Some(batch) = batch else {
                    return Ok((json!({"letters": 0}), "no letters to print".into()));
                };
                std::fs::write(&out, &batch.pdf).map_err(|e| {
                    CommandError::new(exit::FAILURE, format!("{}: {e}", out.display()))
                })?;
                let addresses: Vec<&str> =
                    batch.accounts.iter().map(|a| a.address.as_str()).collect();
                Ok((
                    json!({"letters": addresses.len(), "file": out, "addresses": addresses}),
                    format!(
                        "{} letter(s) in {}; after posting: athen admin letters posted {}",
                        addresses.len(),
                        out.display(),
                        addresses.join(" ")
                    ),
                ))
            }
            LettersCommand::Posted { addresses } => {
                let mut done = Vec::new();
                for address in addresses {
                    let a = self.account_by_address(&address).await?;
                    let event = AccountEvent {
                        account_id: a.id,
                        at: clock.now(),
                        actor: ACTOR.into(),
                        event: "welcome-letter-posted".into(),
                        detail: "the welcome letter was posted".into(),
                    };
                    if !s.mark_letter_posted(a.id, event).await? {
                        return Err(CommandError::not_found(format!(
                            "{} has no letter waiting to be posted",
                            a.address
                        )));
                    }
                    done.push(a.address);
                }
                let text = format!("marked as posted: {}", done.join(", "));
                Ok((json!({"posted": done}), text))
            }
            LettersCommand::Resend { address } => {
                let a = self.account_by_address(&address).await?;
                if a.status != AccountStatus::Provisional {
                    return Err(CommandError::new(
                        exit::CONFLICT,
                        format!("{} is {}, not waiting for its letter", a.address, a.status),
                    ));
                }
                accounts::resend_welcome_letter(s.as_ref(), clock, &key, a.id, ACTOR).await?;
                Ok((
                    json!({"address": a.address, "letter": "new"}),
                    format!(
                        "a new letter with a new code is ready to print for {}; the old code no longer works",
                        a.address
                    ),
                ))
            }
        }
    }

    async fn staff(&self, cmd: StaffCommand) -> Outcome {
        let s = &self.data.store;
        match cmd {
            StaffCommand::Add { address, entry } => {
                let a = self.account_by_address(&address).await?;
                if a.kind != AccountKind::Organisation {
                    return Err(CommandError::new(
                        exit::CONFLICT,
                        "staff can only be listed under an organisation account",
                    ));
                }
                let details = entry
                    .input()
                    .validate(EntryRole::Staff)
                    .map_err(|problems| CommandError {
                        code: exit::INVALID,
                        message: "the input was not accepted".into(),
                        problems,
                    })?;
                let id = s.add_entry(a.id, EntryRole::Staff, details).await?;
                let e = s
                    .entry(id)
                    .await?
                    .ok_or_else(|| CommandError::new(exit::FAILURE, "entry vanished"))?;
                let text = format!(
                    "added staff entry {} ({}) to {}",
                    id,
                    e.details.display_name(),
                    a.address
                );
                Ok((entry_json(&e), text))
            }
            StaffCommand::List { address } => {
                let a = self.account_by_address(&address).await?;
                let staff: Vec<DirectoryEntry> = s
                    .entries_of_account(a.id)
                    .await?
                    .into_iter()
                    .filter(|e| e.role == EntryRole::Staff)
                    .collect();
                let text = staff
                    .iter()
                    .map(|e| {
                        format!(
                            "{:>6}  {}  {}  {}",
                            e.id,
                            e.details.display_name(),
                            e.details.position.as_deref().unwrap_or(""),
                            e.details.provider_numbers.join(" ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((
                    json!({"staff": staff.iter().map(entry_json).collect::<Vec<_>>()}),
                    text,
                ))
            }
            StaffCommand::Remove { address, entry_id } => {
                let a = self.account_by_address(&address).await?;
                let e = s
                    .entry(EntryId(entry_id))
                    .await?
                    .filter(|e| e.account_id == a.id)
                    .ok_or_else(|| {
                        CommandError::not_found(format!(
                            "{} has no staff entry {entry_id}",
                            a.address
                        ))
                    })?;
                s.remove_entry(e.id).await?;
                Ok((
                    json!({"removed": entry_id}),
                    format!("removed staff entry {entry_id}"),
                ))
            }
        }
    }

    /// The login's password checked before a credential change (a staff
    /// login, an app token, a new password): never an app token, as in the
    /// web app, so a token copied from a downloader PC changes nothing.
    async fn unlock(
        &self,
        login: &str,
        secret: &str,
    ) -> Result<athen_vault::auth::Unlocked, CommandError> {
        Ok(self
            .data
            .authenticator(&self.config)
            .reauthenticate(login, secret, None, None)
            .await?)
    }

    async fn login(&self, cmd: LoginCommand) -> Outcome {
        let s = &self.data.store;
        let clock = self.data.clock.as_ref();
        match cmd {
            LoginCommand::Add {
                address,
                staff,
                name,
                password_stdin,
            } => {
                require_stdin(password_stdin)?;
                let a = self.account_by_address(&address).await?;
                let entry = s
                    .entry(EntryId(staff))
                    .await?
                    .filter(|e| e.account_id == a.id && e.role == EntryRole::Staff)
                    .ok_or_else(|| {
                        CommandError::not_found(format!("{} has no staff entry {staff}", a.address))
                    })?;
                let name = name.unwrap_or_else(|| {
                    athen_core::directory::staff_login_name(&a.address, &entry.details)
                });
                let lines = stdin_lines(
                    2,
                    "line 1 the organisation's password, line 2 the new staff password",
                )?;
                let unlocked = self.unlock(&a.address, &lines[0]).await?;
                let id = accounts::add_staff_login(
                    s.as_ref(),
                    clock,
                    (&unlocked.account, &unlocked.secret),
                    entry.id,
                    &name,
                    &lines[1],
                    self.config.kdf_params(),
                )
                .await?;
                let name = name.trim().to_ascii_lowercase();
                Ok((
                    json!({"id": id.0, "name": name, "staff_entry_id": staff}),
                    format!("login {name} can now open {}'s mailbox", a.address),
                ))
            }
            LoginCommand::List { address } => {
                let a = self.account_by_address(&address).await?;
                let logins = s.logins_of_account(a.id).await?;
                let text = logins
                    .iter()
                    .map(|l| {
                        format!(
                            "{:<45} {}{}",
                            l.name,
                            if l.staff_entry_id.is_some() {
                                "staff"
                            } else {
                                "owner"
                            },
                            if l.disabled_at.is_some() {
                                " (disabled)"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                let rows: Vec<Value> = logins
                    .iter()
                    .map(|l| json!({"id": l.id.0, "name": l.name, "staff_entry_id": l.staff_entry_id.map(|e| e.0), "disabled_at": time(l.disabled_at)}))
                    .collect();
                Ok((json!({"logins": rows}), text))
            }
            LoginCommand::Disable { login } => {
                let name = login.trim().to_ascii_lowercase();
                let l = s
                    .login_by_name(&name)
                    .await?
                    .ok_or_else(|| CommandError::not_found(format!("no login is named {name}")))?;
                if l.staff_entry_id.is_none() {
                    return Err(CommandError::new(
                        exit::CONFLICT,
                        "this is the account's own login; suspend or close the account instead",
                    ));
                }
                s.disable_login(l.id, clock.now()).await?;
                Ok((json!({"disabled": name}), format!("login {name} disabled")))
            }
        }
    }

    async fn token(&self, cmd: TokenCommand) -> Outcome {
        let s = &self.data.store;
        let clock = self.data.clock.as_ref();
        match cmd {
            TokenCommand::Issue {
                login,
                label,
                doors,
                password_stdin,
            } => {
                let doors = Doors::parse(&doors).map_err(|e| {
                    CommandError::new(exit::INVALID, format!("--for: {}", e.reason))
                })?;
                require_stdin(password_stdin)?;
                let pw = stdin_lines(1, "the login's password")?;
                let unlocked = self.unlock(&login, &pw[0]).await?;
                let t =
                    accounts::issue_app_token(s.as_ref(), clock, (&unlocked).into(), &label, doors)
                        .await?;
                Ok((
                    json!({"id": t.id.0, "label": label.trim(), "login": unlocked.login.name, "for": doors.names(), "token": t.token.as_str()}),
                    format!(
                        "App token {} for {} (shown only now):\n  {}",
                        t.id,
                        unlocked.login.name,
                        t.token.as_str()
                    ),
                ))
            }
            TokenCommand::List { address } => {
                let a = self.account_by_address(&address).await?;
                let logins = s.logins_of_account(a.id).await?;
                let creds = s.credentials_of_account(a.id).await?;
                let rows: Vec<Value> = creds
                    .iter()
                    .filter(|c| c.kind == athen_core::account::CredentialKind::AppToken)
                    .map(|c| {
                        let login = logins.iter().find(|l| l.id == c.login_id).map(|l| l.name.clone());
                        json!({"id": c.id.0, "label": c.label, "login": login, "for": c.doors.names(), "created_at": rfc3339(c.created_at), "last_used_at": time(c.last_used_at), "revoked_at": time(c.revoked_at)})
                    })
                    .collect();
                let text = rows
                    .iter()
                    .map(|r| {
                        format!(
                            "{:>6}  {:<30} {}  last used {}{}",
                            r["id"],
                            r["label"].as_str().unwrap_or(""),
                            r["login"].as_str().unwrap_or(""),
                            r["last_used_at"].as_str().unwrap_or("never"),
                            if r["revoked_at"].is_null() {
                                ""
                            } else {
                                "  (revoked)"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((json!({"tokens": rows}), text))
            }
            TokenCommand::Revoke { address, id } => {
                let a = self.account_by_address(&address).await?;
                let c = s
                    .credential(CredentialId(id))
                    .await?
                    .filter(|c| c.kind == athen_core::account::CredentialKind::AppToken)
                    .ok_or_else(|| CommandError::not_found(format!("no app token {id}")))?;
                let owner = s.login(c.login_id).await?.map(|l| l.account_id);
                if owner != Some(a.id) {
                    return Err(CommandError::not_found(format!(
                        "{} has no app token {id}",
                        a.address
                    )));
                }
                s.revoke_credential(c.id, clock.now()).await?;
                Ok((json!({"revoked": id}), format!("token {id} revoked")))
            }
        }
    }

    async fn credential(&self, cmd: CredentialCommand) -> Outcome {
        let s = &self.data.store;
        let clock = self.data.clock.as_ref();
        match cmd {
            CredentialCommand::ChangePassword {
                login,
                password_stdin,
            } => {
                require_stdin(password_stdin)?;
                let lines = stdin_lines(2, "line 1 the current password, line 2 the new password")?;
                let unlocked = self.unlock(&login, &lines[0]).await?;
                accounts::change_password(
                    s.as_ref(),
                    clock,
                    (&unlocked).into(),
                    &lines[1],
                    self.config.kdf_params(),
                )
                .await?;
                Ok((
                    json!({"login": unlocked.login.name, "changed": true}),
                    format!(
                        "password of {} changed; mail untouched",
                        unlocked.login.name
                    ),
                ))
            }
            CredentialCommand::Recover {
                address,
                password_stdin,
            } => {
                require_stdin(password_stdin)?;
                let lines = stdin_lines(2, "line 1 the recovery code, line 2 the new password")?;
                let auth = self.data.authenticator(&self.config);
                let unlocked = auth
                    .unlock_with_recovery_code(&address, &lines[0], None)
                    .await?;
                accounts::change_password(
                    s.as_ref(),
                    clock,
                    (&unlocked).into(),
                    &lines[1],
                    self.config.kdf_params(),
                )
                .await?;
                let code =
                    accounts::renew_recovery_code(s.as_ref(), clock, (&unlocked).into()).await?;
                s.record_event(athen_core::account::AccountEvent {
                    account_id: unlocked.account.id,
                    at: clock.now(),
                    actor: ACTOR.into(),
                    event: "recovered".into(),
                    detail: "password set with the recovery code; new recovery code issued".into(),
                })
                .await?;
                Ok((
                    json!({"address": unlocked.account.address, "recovery_code": code.as_str()}),
                    format!(
                        "new password set for {}; mail kept.\nNew recovery code (shown only now):\n  {}",
                        unlocked.account.address,
                        code.as_str()
                    ),
                ))
            }
            CredentialCommand::TwoStepOff { login } => {
                let name = login.trim().to_ascii_lowercase();
                let l = s
                    .login_by_name(&name)
                    .await?
                    .ok_or_else(|| CommandError::invalid(format!("there is no login {name}")))?;
                let was_on = s.totp(l.id).await?.is_some();
                if was_on {
                    s.remove_totp(l.id).await?;
                    s.record_event(athen_core::account::AccountEvent {
                        account_id: l.account_id,
                        at: clock.now(),
                        actor: ACTOR.into(),
                        event: "two-step-off".into(),
                        detail: format!(
                            "two-step sign-in of {name} turned off by the administrator"
                        ),
                    })
                    .await?;
                }
                Ok((
                    json!({"login": name, "was_on": was_on}),
                    if was_on {
                        format!("two-step sign-in of {name} is off; the password alone signs in")
                    } else {
                        format!("{name} had no two-step sign-in; nothing changed")
                    },
                ))
            }
            CredentialCommand::Reset {
                address,
                discard_mail,
                password_stdin,
            } => {
                let a = self.account_by_address(&address).await?;
                if !discard_mail {
                    let count = s.count_messages(a.mailbox_id).await?
                        + s.spool_entries(a.mailbox_id).await?.len() as u64;
                    return Err(CommandError::invalid(format!(
                        "a reset makes all {count} messages of {} unreadable for ever, and stops its staff logins and app tokens. \
If the account holder still has a password or the recovery code, use `credential change-password` or \
`credential recover` instead, which keep the mail. To go ahead anyway, add --discard-mail.",
                        a.address
                    )));
                }
                require_stdin(password_stdin)?;
                let pw = stdin_lines(1, "the new password")?;
                let (loss, code) = accounts::reset_discarding_mail(
                    s.as_ref(),
                    clock,
                    &a,
                    &pw[0],
                    self.config.kdf_params(),
                    ACTOR,
                )
                .await?;
                let mut v = serde_json::to_value(&loss).unwrap_or(Value::Null);
                v["recovery_code"] = json!(code.as_str());
                v["address"] = json!(a.address);
                Ok((
                    v,
                    format!(
                        "{}: new keys and password. {} stored and {} spooled messages can no longer be read.\nNew recovery code (shown only now):\n  {}",
                        a.address,
                        loss.messages_unreadable,
                        loss.spooled_unreadable,
                        code.as_str()
                    ),
                ))
            }
        }
    }

    async fn operator(&self, cmd: OperatorCommand) -> Outcome {
        let s = &self.data.store;
        match cmd {
            OperatorCommand::Create {
                login,
                name,
                password_stdin,
            } => {
                require_stdin(password_stdin)?;
                let pw = stdin_lines(1, "the administrator's password")?;
                athen_vault::provision::check_new_password(&pw[0])?;
                let login = login.trim().to_ascii_lowercase();
                if login.is_empty()
                    || !login
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
                {
                    return Err(CommandError::invalid(
                        "the login may use letters, digits and . - _ @ only",
                    ));
                }
                let kdf = self.config.kdf_params();
                let pw0 = pw[0].clone();
                let verifier = tokio::task::spawn_blocking(move || {
                    codes::password_verifier(pw0.as_bytes(), kdf)
                })
                .await
                .map_err(|e| CommandError::new(exit::FAILURE, e.to_string()))??;
                let id = s
                    .add_operator(name.trim(), &login, verifier, self.data.clock.now())
                    .await?;
                Ok((
                    json!({"id": id.0, "login": login}),
                    format!("administrator {login} created"),
                ))
            }
            OperatorCommand::TwoStepOff { login } => {
                let login = login.trim().to_ascii_lowercase();
                let op = s.operator_by_login(&login).await?.ok_or_else(|| {
                    CommandError::not_found(format!("no administrator is named {login}"))
                })?;
                let was_on = op.totp_sealed.is_some();
                s.set_operator_totp(op.id, None).await?;
                Ok((
                    json!({"login": login, "was_on": was_on}),
                    format!(
                        "two-step sign-in of administrator {login} is off{}",
                        if was_on { "" } else { " (it was not on)" }
                    ),
                ))
            }
            OperatorCommand::SetupLink { base_url } => {
                if s.count_operators().await? > 0 {
                    return Err(CommandError::new(
                        exit::CONFLICT,
                        "an administrator already exists; use `operator create` to add another",
                    ));
                }
                let token = codes::new_bootstrap_token()?;
                s.set_bootstrap_token(codes::code_hash(&token), self.data.clock.now())
                    .await?;
                let url = format!(
                    "{}/setup?token={}",
                    base_url.trim_end_matches('/'),
                    token.as_str()
                );
                Ok((
                    json!({"url": url}),
                    format!("Open this link once to create the first administrator:\n  {url}"),
                ))
            }
        }
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

    async fn queue(&self, cmd: QueueCommand) -> Outcome {
        let s = &self.data.store;
        match cmd {
            QueueCommand::List => {
                let messages = s.queued_messages().await?;
                let rows: Vec<Value> = messages.iter().map(queued_json).collect();
                let text = if messages.is_empty() {
                    "the queue is empty".to_string()
                } else {
                    messages
                        .iter()
                        .map(queued_text)
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                Ok((json!({"messages": rows}), text))
            }
            QueueCommand::Show { id } => {
                let m = s
                    .queued_message(QueueId(id))
                    .await?
                    .ok_or_else(|| not_in_queue(id))?;
                Ok((queued_json(&m), queued_text(&m)))
            }
            QueueCommand::Retry { id } => {
                if s.queued_message(QueueId(id)).await?.is_none() {
                    return Err(not_in_queue(id));
                }
                let n = s.retry_now(QueueId(id), self.data.clock.now()).await?;
                Ok((
                    json!({"id": id, "recipients_due": n}),
                    format!(
                        "{n} recipient(s) of message {id} will be tried at the next queue pass"
                    ),
                ))
            }
        }
    }

    async fn audit(&self, cmd: AuditCommand) -> Outcome {
        use athen_core::audit::ChainCheck;
        let s = &self.data.store;
        let AuditCommand::Verify { address } = cmd;
        let mailboxes = match &address {
            Some(a) => vec![self.account_by_address(a).await?.mailbox_id],
            None => s.audited_mailboxes().await?,
        };
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        let mut broken = 0;
        for id in mailboxes {
            let owner = match s.mailbox(id).await? {
                Some(m) => s.account(m.account_id).await?.map(|a| a.address),
                None => None,
            }
            .unwrap_or_else(|| format!("mailbox {id}"));
            match athen_mail::audit::verify(s.as_ref(), id)
                .await
                .map_err(|e| CommandError::new(exit::FAILURE, e.to_string()))?
            {
                ChainCheck::Intact { entries, head } => {
                    rows.push(json!({"mailbox": id.0, "account": owner, "intact": true, "entries": entries, "last": head.seq}));
                    lines.push(format!(
                        "{owner}: intact, {entries} entries (up to {})",
                        head.seq
                    ));
                }
                ChainCheck::Broken { seq, reason } => {
                    broken += 1;
                    rows.push(json!({"mailbox": id.0, "account": owner, "intact": false, "first_bad_entry": seq, "reason": reason}));
                    lines.push(format!("{owner}: BROKEN at entry {seq}: {reason}"));
                }
            }
        }
        if broken > 0 {
            return Err(CommandError::new(
                exit::FAILURE,
                format!("{broken} audit trail(s) broken:\n{}", lines.join("\n")),
            ));
        }
        let text = if lines.is_empty() {
            "no audit trails yet".to_string()
        } else {
            lines.join("\n")
        };
        Ok((json!({"trails": rows}), text))
    }

    async fn deliver(&self, to: &str, file: Option<PathBuf>) -> Outcome {
        let a = self.account_by_address(to).await?;
        if !a.status.receives_mail() {
            return Err(CommandError::new(
                exit::CONFLICT,
                format!("{} is {} and does not receive mail", a.address, a.status),
            ));
        }
        let limit = self.config.limits.max_message_bytes as usize;
        let mut raw = Zeroizing::new(Vec::new());
        match file {
            Some(p) => {
                raw = Zeroizing::new(std::fs::read(&p).map_err(|e| {
                    CommandError::invalid(format!("cannot read {}: {e}", p.display()))
                })?);
            }
            None => {
                std::io::stdin()
                    .take(limit as u64 + 1)
                    .read_to_end(&mut raw)
                    .map_err(|e| {
                        CommandError::invalid(format!("cannot read standard input: {e}"))
                    })?;
            }
        }
        let s = &self.data.store;
        let mailbox = s
            .mailbox(a.mailbox_id)
            .await?
            .ok_or_else(|| CommandError::new(exit::FAILURE, "the account has no mailbox"))?;
        let id = athen_mail::spool::deliver(
            self.data.blobs.as_ref(),
            s.as_ref(),
            &mailbox,
            &raw,
            limit,
            self.data.clock.now(),
        )
        .await?;
        Ok((
            json!({"spool_id": id.0, "to": a.address, "size": raw.len()}),
            format!("sealed and spooled for {} ({} bytes)", a.address, raw.len()),
        ))
    }
}
