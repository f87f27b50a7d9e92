//! `athen-fetch`: the command line of the ATHEN downloader (docs/downloader.md).
//!
//! Exit codes: 0 done; 1 could not finish now (the server unreachable, a
//! file that could not be delivered: it is tried again); 2 the settings
//! need mending (no settings, a refused app token, a certificate that is
//! not trusted); 3 another copy is running.

use athen_fetch::client::{self, Client, ClientError, ServerAddress};
use athen_fetch::config::{self, Config, Trust};
use athen_fetch::cycle::{self, CycleError, Outcome};
use athen_fetch::journal::Journal;
use athen_fetch::lock::{Lock, LockError};
use athen_fetch::progress::{Progress, timestamp};
use clap::{Parser, Subcommand};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "athen-fetch",
    version,
    about = "Puts letters from ATHEN into the clinical system's import folder"
)]
struct Cli {
    /// The settings file (default: per user; see `athen-fetch status`).
    #[arg(long, global = true, env = "ATHEN_FETCH_CONFIG")]
    config: Option<PathBuf>,
    /// Only problems are written out.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Asks for the server, the app token and the import folder, checks
    /// them and writes the settings. Answers can be given as options.
    Setup {
        /// The ATHEN server, https://host[:port].
        #[arg(long)]
        server: Option<String>,
        /// The login the app token belongs to.
        #[arg(long)]
        login: Option<String>,
        /// Read the app token from the first line of standard input.
        #[arg(long)]
        token_stdin: bool,
        /// The clinical system's import folder.
        #[arg(long)]
        import_folder: Option<PathBuf>,
        /// A folder whose PIT, HL7, RTF and DOCX files are sent to the
        /// addressee each names (optional).
        #[arg(long)]
        upload_folder: Option<PathBuf>,
        /// Minutes between cycles of `run`.
        #[arg(long, default_value_t = 15)]
        interval: u64,
        /// For a server whose certificate no authority signed: pin the
        /// certificate it presents now without asking.
        #[arg(long, conflicts_with = "pin")]
        trust_on_first_use: bool,
        /// Pin the certificate with this SHA-256 (hex), as the server's
        /// administrator gives it.
        #[arg(long)]
        pin: Option<String>,
    },
    /// One cycle, then stop (for Task Scheduler or cron).
    Once,
    /// Cycles every few minutes until stopped (for a service).
    Run {
        /// Minutes between cycles (default: the settings').
        #[arg(long)]
        interval: Option<u64>,
    },
    /// What the settings are and what the last cycle did.
    Status,
}

/// Why the program stops, and with which code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn settings(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<CycleError> for Failure {
    fn from(e: CycleError) -> Failure {
        let code = match &e {
            CycleError::Client(c) if c.is_transient() => 1,
            CycleError::Client(ClientError::Server { .. }) => 1,
            CycleError::Client(_) => 2,
            CycleError::Local(_) => 1,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

impl From<LockError> for Failure {
    fn from(e: LockError) -> Failure {
        Failure {
            code: if matches!(e, LockError::Busy(_)) {
                3
            } else {
                2
            },
            message: e.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("athen-fetch: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let quiet = cli.quiet;
    match runtime.block_on(main_async(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let mut p = Progress::new(quiet);
            p.log(&format!("could not finish: {}", f.message));
            ExitCode::from(f.code)
        }
    }
}

fn settings_path(cli: &Cli) -> Result<PathBuf, Failure> {
    cli.config
        .clone()
        .or_else(config::default_path)
        .ok_or_else(|| Failure::settings("no place for the settings: give --config PATH"))
}

fn state_dir(settings: &Path) -> PathBuf {
    settings
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn load(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(|e| Failure::settings(e.to_string()))
}

async fn main_async(cli: Cli) -> Result<(), Failure> {
    let path = settings_path(&cli)?;
    let quiet = cli.quiet;
    match cli.command {
        Command::Setup {
            server,
            login,
            token_stdin,
            import_folder,
            upload_folder,
            interval,
            trust_on_first_use,
            pin,
        } => {
            let answers = SetupAnswers {
                server,
                login,
                token_stdin,
                import_folder,
                upload_folder,
                interval,
                trust_on_first_use,
                pin,
            };
            setup(&path, answers).await
        }
        Command::Once => {
            let _lock = Lock::acquire(&state_dir(&path))?;
            let config = load(&path)?;
            let mut progress = Progress::new(quiet);
            let result = cycle::run(&config, &state_dir(&path), &mut progress).await;
            finish_cycle(&path, &mut progress, result)
        }
        Command::Run { interval } => {
            let _lock = Lock::acquire(&state_dir(&path))?;
            let mut progress = Progress::new(quiet);
            loop {
                // Read each time: `setup` may have mended them meanwhile.
                let minutes = match load(&path) {
                    Ok(config) => {
                        let result = cycle::run(&config, &state_dir(&path), &mut progress).await;
                        if let Err(f) = finish_cycle(&path, &mut progress, result) {
                            progress.log(&format!(
                                "could not finish: {}; trying again later",
                                f.message
                            ));
                        }
                        interval.unwrap_or(config.interval_minutes)
                    }
                    Err(f) => {
                        progress.log(&format!(
                            "could not finish: {}; trying again later",
                            f.message
                        ));
                        interval.unwrap_or(15)
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(minutes.max(1) * 60)) => {}
                    _ = tokio::signal::ctrl_c() => {
                        progress.log("stopped");
                        return Ok(());
                    }
                }
            }
        }
        Command::Status => status(&path),
    }
}

/// The last cycle, as `status` shows it.
#[derive(serde::Serialize, serde::Deserialize)]
struct LastCycle {
    finished_at: String,
    outcome: Option<Outcome>,
    error: Option<String>,
}

fn finish_cycle(
    path: &Path,
    progress: &mut Progress,
    result: Result<Outcome, CycleError>,
) -> Result<(), Failure> {
    let last = LastCycle {
        finished_at: timestamp(),
        outcome: result.as_ref().ok().cloned(),
        error: result.as_ref().err().map(ToString::to_string),
    };
    if let Ok(text) = serde_json::to_vec_pretty(&last) {
        let _ = athen_fetch::files::write_private(&state_dir(path).join("last-cycle.json"), &text);
    }
    let outcome = result?;
    progress.log(&format!(
        "cycle done: {} downloaded, {} imported, {} could not be delivered, {} waiting in the import folder; {} sent, {} could not be sent",
        outcome.downloaded,
        outcome.imported,
        outcome.failed.len(),
        outcome.awaiting_import,
        outcome.sent,
        outcome.not_sent.len()
    ));
    if !outcome.failed.is_empty() {
        return Err(Failure {
            code: 1,
            message: format!(
                "{} file(s) could not be delivered; they are tried again",
                outcome.failed.len()
            ),
        });
    }
    if !outcome.not_sent.is_empty() {
        return Err(Failure {
            code: 1,
            message: format!(
                "{} file(s) could not be sent; they are in the Errors folder, each with a note saying why",
                outcome.not_sent.len()
            ),
        });
    }
    Ok(())
}

fn status(path: &Path) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Settings:       {}", path.display());
    let config = load(path)?;
    let _ = writeln!(out, "Server:         {}", config.server);
    let _ = writeln!(out, "Login:          {}", config.login);
    let _ = writeln!(out, "Trusts:         {}", config.trust.describe());
    let _ = writeln!(out, "Import folder:  {}", config.import_folder.display());
    if let Some(u) = &config.upload_folder {
        let _ = writeln!(out, "Upload folder:  {}", u.display());
    }
    let _ = writeln!(
        out,
        "Every:          {} minutes (run)",
        config.interval_minutes
    );
    let state = state_dir(path);
    match std::fs::read(state.join("last-cycle.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<LastCycle>(&b).ok())
    {
        Some(last) => {
            let _ = writeln!(out, "Last cycle:     {}", last.finished_at);
            if let Some(o) = last.outcome {
                let _ = writeln!(
                    out,
                    "                {} downloaded, {} imported, {} could not be delivered",
                    o.downloaded,
                    o.imported,
                    o.failed.len()
                );
                for f in o.failed {
                    let _ = writeln!(out, "                  {f}");
                }
            }
            if let Some(e) = last.error {
                let _ = writeln!(out, "                stopped: {e}");
            }
        }
        None => {
            let _ = writeln!(out, "Last cycle:     none yet");
        }
    }
    let pending = Journal::read(&cycle::journal_path(&state)).unwrap_or_default();
    let _ = writeln!(
        out,
        "In the import folder, waiting for the clinical system: {}",
        pending.len()
    );
    for e in pending {
        let _ = writeln!(out, "  {} (download {}, {:?})", e.file, e.id, e.step);
    }
    Ok(())
}

struct SetupAnswers {
    server: Option<String>,
    login: Option<String>,
    token_stdin: bool,
    import_folder: Option<PathBuf>,
    upload_folder: Option<PathBuf>,
    interval: u64,
    trust_on_first_use: bool,
    pin: Option<String>,
}

/// Reads one answer from standard input after a question.
fn ask(question: &str) -> Result<String, Failure> {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::settings(format!("cannot read the answer: {e}")))?;
    Ok(line.trim().to_string())
}

async fn setup(path: &Path, a: SetupAnswers) -> Result<(), Failure> {
    let server = match a.server {
        Some(s) => s,
        None => ask("ATHEN server (https://…): ")?,
    };
    let address = ServerAddress::parse(&server).map_err(Failure::settings)?;
    let login = match a.login {
        Some(l) => l,
        None => ask("Login the app token belongs to (the practice's address): ")?,
    };
    let token = Zeroizing::new(if a.token_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::settings(format!("cannot read the token: {e}")))?;
        line.trim().to_string()
    } else {
        ask("App token (web app: Settings → App tokens): ")?
    });
    let import_folder = match a.import_folder {
        Some(f) => f,
        None => {
            let found = config::detected_import_folders();
            for (i, (system, dir)) in found.iter().enumerate() {
                eprintln!("  {}. {system}: {}", i + 1, dir.display());
            }
            let answer = ask(if found.is_empty() {
                "Import folder of the clinical system: "
            } else {
                "Import folder (a number above, or a folder): "
            })?;
            match answer.parse::<usize>() {
                Ok(n) if (1..=found.len()).contains(&n) => found[n - 1].1.clone(),
                _ => PathBuf::from(answer),
            }
        }
    };
    if !import_folder.is_dir() {
        return Err(Failure::settings(format!(
            "the import folder {} does not exist",
            import_folder.display()
        )));
    }
    if let Some(u) = &a.upload_folder
        && !u.is_dir()
    {
        return Err(Failure::settings(format!(
            "the upload folder {} does not exist",
            u.display()
        )));
    }
    // The system's roots first; a pin only when asked for, or agreed to.
    let trust = match a.pin {
        Some(pin) => Trust::Pinned {
            sha256: pin.trim().to_ascii_lowercase().replace(':', ""),
        },
        None => match check_login(&address, &Trust::System, &login, &token).await {
            Ok(()) => Trust::System,
            Err(ClientError::Certificate(why)) => {
                let seen = client::presented_certificate(&address)
                    .await
                    .map_err(|e| Failure::settings(e.to_string()))?;
                eprintln!("The server's certificate is not one this computer trusts ({why}).");
                eprintln!("Its SHA-256 fingerprint is {seen}.");
                eprintln!("Compare it with the one the server's administrator gives you.");
                let yes = a.trust_on_first_use
                    || ask("Trust this certificate, and only this one, from now on? [y/N] ")?
                        .eq_ignore_ascii_case("y");
                if !yes {
                    return Err(Failure::settings(
                        "the certificate was not trusted; nothing was saved",
                    ));
                }
                Trust::Pinned { sha256: seen }
            }
            Err(e) => return Err(Failure::settings(format!("{e}; nothing was saved"))),
        },
    };
    check_login(&address, &trust, &login, &token)
        .await
        .map_err(|e| Failure::settings(format!("{e}; nothing was saved")))?;
    let config = Config {
        server,
        login,
        token: token.to_string(),
        import_folder,
        upload_folder: a.upload_folder,
        interval_minutes: a.interval,
        trust,
    };
    config
        .check()
        .map_err(|e| Failure::settings(e.to_string()))?;
    config
        .save(path)
        .map_err(|e| Failure::settings(format!("cannot write {}: {e}", path.display())))?;
    println!("Settings saved in {}.", path.display());
    println!("The server is trusted by {}.", config.trust.describe());
    println!("Files go into {}.", config.import_folder.display());
    if let Some(u) = &config.upload_folder {
        println!("Files left in {} are sent.", u.display());
    }
    Ok(())
}

/// Logs in and out, to check the server, the certificate and the token.
async fn check_login(
    address: &ServerAddress,
    trust: &Trust,
    login: &str,
    token: &str,
) -> Result<(), ClientError> {
    let mut c = Client::new(address.clone(), trust.clone());
    c.log_in(login, token).await?;
    c.log_out().await;
    Ok(())
}
