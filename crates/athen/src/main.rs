//! `athen`: the ATHEN secure clinical messaging server.

mod admin;
mod bench_smtp;
mod config;
mod context;
mod convert_cmd;
mod demo;
mod dns_records;
mod idle;
mod keys;
mod mailbox_cmd;
mod output;
mod server;
mod tls;

// mimalloc: the server allocates and frees many small buffers a request
// (rows, HTML, TLS records) from several threads; glibc's malloc spent
// about 15% of the CPU on that in the web benchmark.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use config::Config;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "athen",
    version,
    about = "ATHEN: secure clinical messaging over open e-mail standards",
    long_about = "ATHEN: secure clinical messaging over open e-mail standards.\n\n\
Start with `athen localserve` to try it on this computer, or `athen serve --config athen.toml` \
in production. `athen admin --help` shows how to manage accounts."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run everything on this computer with no configuration: loopback
    /// addresses, unprivileged ports, data in ./athen-data.
    Localserve(LocalserveArgs),
    /// Run with a configuration file (production).
    Serve {
        /// The configuration file (see `athen config example`).
        #[arg(long, env = "ATHEN_CONFIG")]
        config: PathBuf,
    },
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage accounts, the directory, logins and credentials.
    Admin(admin::AdminArgs),
    /// Open a mailbox with its own credential: list and read mail.
    Mailbox(mailbox_cmd::MailboxArgs),
    /// Print the DNS records to publish (MX, SPF, DKIM, DMARC, MTA-STS,
    /// TLS-RPT); makes the DKIM key if there is none yet.
    DnsRecords(dns_records::DnsRecordsArgs),
    /// Read a letter or a whole message: print what was found (JSON) or
    /// write an import file (PIT, HL7).
    Convert(convert_cmd::ConvertArgs),
    /// Load generators for measuring ATHEN (or another server).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Send mail over SMTP with STARTTLS from many connections at once.
    Smtp(bench_smtp::SmtpBenchArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a fully commented example configuration with every default.
    Example,
    /// Check a configuration file (and ATHEN_* overrides) without starting.
    Check {
        #[arg(long, env = "ATHEN_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Args)]
struct LocalserveArgs {
    /// Where data is kept.
    #[arg(long, env = "ATHEN_DATA_DIR", default_value = "athen-data")]
    data_dir: PathBuf,
    /// The mail domain.
    #[arg(long, env = "ATHEN_DOMAIN", default_value = "athen.localhost")]
    domain: String,
    /// Address to listen on.
    #[arg(long, env = "ATHEN_LISTEN", default_value = "127.0.0.1")]
    listen: IpAddr,
    /// HTTPS port (0: any free port, printed at start).
    #[arg(long, env = "ATHEN_HTTPS_PORT", default_value_t = 8443)]
    https_port: u16,
    /// SMTP port for other mail servers (MX).
    #[arg(long, env = "ATHEN_SMTP_PORT", default_value_t = 2525)]
    smtp_port: u16,
    /// Submission port, STARTTLS.
    #[arg(long, env = "ATHEN_SUBMISSION_PORT", default_value_t = 2587)]
    submission_port: u16,
    /// Submission port, implicit TLS.
    #[arg(long, env = "ATHEN_SUBMISSIONS_PORT", default_value_t = 2465)]
    submissions_port: u16,
    /// IMAP port, STARTTLS.
    #[arg(long, env = "ATHEN_IMAP_PORT", default_value_t = 2143)]
    imap_port: u16,
    /// IMAP port, implicit TLS.
    #[arg(long, env = "ATHEN_IMAPS_PORT", default_value_t = 2993)]
    imaps_port: u16,
    /// DNS server for SPF/DKIM/DMARC checks ("ip" or "ip:port"); default:
    /// the system's.
    #[arg(long, env = "ATHEN_DNS_SERVER")]
    dns_server: Option<String>,
    /// Directory searches allowed from one address a minute (0: no limit).
    #[arg(long, env = "ATHEN_DIRECTORY_LIMIT", default_value_t = 120)]
    directory_limit: u32,
    /// New IMAP connections allowed from one address a minute (0: no
    /// limit).
    #[arg(long, env = "ATHEN_IMAP_CONNECTION_LIMIT", default_value_t = 300)]
    imap_connection_limit: u32,
    /// Make two demo practices with letters exchanged and an administrator,
    /// and print how to sign in as each (once per data directory; the
    /// passwords are printed: for trying ATHEN only).
    #[arg(long)]
    demo: bool,
}

impl LocalserveArgs {
    fn config(&self) -> Result<Config> {
        let mut c = Config::localserve();
        c.server.data_dir = self.data_dir.clone();
        c.server.domain = self.domain.clone();
        c.listen.address = self.listen;
        c.listen.https = self.https_port;
        c.listen.smtp = self.smtp_port;
        c.listen.submission = self.submission_port;
        c.listen.submissions = self.submissions_port;
        c.listen.imap = self.imap_port;
        c.listen.imaps = self.imaps_port;
        c.smtp.dns_servers = self.dns_server.iter().cloned().collect();
        c.limits.directory_searches_per_minute = self.directory_limit;
        c.limits.imap_connections_per_minute_per_address = self.imap_connection_limit;
        c.check()?;
        Ok(c)
    }
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<ExitCode> = match cli.command {
        Command::Localserve(args) => args.config().and_then(|c| {
            init_logging(&c);
            let mode = server::Mode::Localserve { demo: args.demo };
            runtime()?.block_on(server::run(c, mode))?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Serve { config } => Config::load(&config).and_then(|c| {
            init_logging(&c);
            runtime()?.block_on(server::run(c, server::Mode::Serve))?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Config(ConfigCommand::Example) => {
            print!("{}", config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check { config }) => Config::load(&config).map(|_| {
            println!("{}: configuration is valid", config.display());
            ExitCode::SUCCESS
        }),
        Command::DnsRecords(args) => dns_records::run(args).map(|_| ExitCode::SUCCESS),
        Command::Convert(args) => Ok(convert_cmd::run(args)),
        Command::Admin(args) => runtime().map(|rt| rt.block_on(admin::run(args))),
        Command::Mailbox(args) => runtime().map(|rt| rt.block_on(mailbox_cmd::run(args))),
        Command::Bench(BenchCommand::Smtp(args)) => runtime().and_then(|rt| {
            rt.block_on(bench_smtp::run(args))
                .map(|_| ExitCode::SUCCESS)
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("athen: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
