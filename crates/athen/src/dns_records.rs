//! `athen dns-records`: the DNS records a domain must publish so that other
//! servers deliver to ATHEN and trust what it sends (MX, SPF, DKIM, DMARC,
//! MTA-STS, TLS-RPT), in zone-file form.

use crate::config::Config;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct DnsRecordsArgs {
    /// The configuration file; without it, localserve's defaults.
    #[arg(long, env = "ATHEN_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory (localserve; ignored with --config).
    #[arg(long, default_value = "athen-data")]
    data_dir: PathBuf,
    /// Further domains this server sends for (besides the mail domain).
    #[arg(long = "domain")]
    domains: Vec<String>,
}

/// TXT data as quoted strings of at most 255 octets (RFC 1035 §3.3.14).
fn quoted(value: &str) -> String {
    value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(args: DnsRecordsArgs) -> Result<()> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => {
            let mut c = Config::localserve();
            c.server.data_dir = args.data_dir.clone();
            c
        }
    };
    let dkim = crate::keys::dkim_keys(&config.server.data_dir, &config.outbound.dkim_selector)?;
    let host = config.server.hostname.trim_end_matches('.');
    let mut domains = vec![config.server.domain.clone()];
    domains.extend(args.domains.iter().map(|d| d.to_ascii_lowercase()));
    for domain in &domains {
        let d = domain.trim_end_matches('.');
        println!("; ATHEN: records for {d}");
        println!("{d}.\t3600\tIN\tMX\t10 {host}.");
        println!(
            "{d}.\t3600\tIN\tTXT\t{}",
            quoted(&format!("v=spf1 a:{host} mx -all"))
        );
        println!(
            "{}._domainkey.{d}.\t3600\tIN\tTXT\t{}",
            dkim.selector(),
            quoted(&dkim.dns_record())
        );
        println!(
            "_dmarc.{d}.\t3600\tIN\tTXT\t{}",
            quoted(&format!(
                "v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:postmaster@{d}"
            ))
        );
        println!(
            "_mta-sts.{d}.\t3600\tIN\tTXT\t{}",
            quoted("v=STSv1; id=athen1")
        );
        println!(
            "_smtp._tls.{d}.\t3600\tIN\tTXT\t{}",
            quoted(&format!("v=TLSRPTv1; rua=mailto:postmaster@{d}"))
        );
        println!(
            "; MTA-STS also needs https://mta-sts.{d}/.well-known/mta-sts.txt (RFC 8461 §3.2), \
served by your web server (ATHEN does not serve it yet):"
        );
        println!(";   version: STSv1");
        println!(";   mode: enforce");
        println!(";   mx: {host}");
        println!(";   max_age: 604800");
        println!();
    }
    Ok(())
}
