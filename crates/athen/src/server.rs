//! Starting and stopping the services.

use crate::config::Config;
use crate::context::DataDir;
use crate::tls;
use anyhow::{Context, Result};
use athen_core::store::OperatorStore;
use athen_vault::sessions::Sessions;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// How the server was started, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `localserve`; with `demo`, the demo practices are made.
    Localserve {
        demo: bool,
    },
    Serve,
}

/// A TLS handshake must finish within this time, so half-open connections
/// cannot pile up.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request headers must arrive within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many HTTPS connections at once; more wait in the backlog.
const MAX_HTTPS_CONNECTIONS: usize = 4096;
/// At most this many open HTTPS connections from one address (an IPv6
/// /64); more are closed at once. A practice behind one address with a
/// browser per desk uses a few each (HTTP/2 carries many requests on one).
const MAX_HTTPS_CONNECTIONS_PER_ADDRESS: usize = 100;
/// An HTTPS connection on which no byte moved for this long is closed
/// (an idle HTTP/2 connection would otherwise hold its slot for ever).
/// Longer than the longest wait for changes (60 s).
const HTTPS_IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// How many of the newest letters are unspooled first at log-in: one
/// page of the Inbox.
const INBOX_FIRST_PAGE: usize = 50;

pub async fn run(config: Config, mode: Mode) -> Result<()> {
    let data = DataDir::open(&config.server.data_dir).await?;
    let _lock = data.lock_for_server()?;
    let tls = tls::server_config(
        &data.path,
        &config.server.hostname,
        config.tls.certificate.as_deref(),
        config.tls.private_key.as_deref(),
    )?;

    let sessions = Arc::new(Sessions::new(data.clock.clone(), config.session_limits()));
    let https_addr = SocketAddr::new(config.listen.address, config.listen.https);
    let listener = TcpListener::bind(https_addr)
        .await
        .with_context(|| format!("cannot listen for HTTPS on {https_addr}"))?;
    let https_addr = listener.local_addr()?;
    let smtp_addr = SocketAddr::new(config.listen.address, config.listen.smtp);
    let smtp_listener = TcpListener::bind(smtp_addr)
        .await
        .with_context(|| format!("cannot listen for SMTP on {smtp_addr}"))?;
    let smtp_addr = smtp_listener.local_addr()?;
    let mut submission_listeners = Vec::new();
    for (port, implicit_tls) in [
        (config.listen.submission, false),
        (config.listen.submissions, true),
    ] {
        let addr = SocketAddr::new(config.listen.address, port);
        let l = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for mail submission on {addr}"))?;
        submission_listeners.push((l.local_addr()?, l, implicit_tls));
    }
    let submission_addrs: Vec<SocketAddr> =
        submission_listeners.iter().map(|(a, _, _)| *a).collect();
    let mut imap_listeners = Vec::new();
    for (port, implicit_tls) in [(config.listen.imap, false), (config.listen.imaps, true)] {
        let addr = SocketAddr::new(config.listen.address, port);
        let l = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for IMAP on {addr}"))?;
        imap_listeners.push((l.local_addr()?, l, implicit_tls));
    }
    let imap_addrs: Vec<SocketAddr> = imap_listeners.iter().map(|(a, _, _)| *a).collect();

    let mut setup_token = if data.store.count_operators().await? == 0 {
        let token = athen_vault::codes::new_bootstrap_token()?;
        data.store
            .set_bootstrap_token(athen_vault::codes::code_hash(&token), data.clock.now())
            .await?;
        Some(token)
    } else {
        None
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut mx_config = athen_smtp::MxConfig::new(
        &config.server.hostname,
        &config.server.domain,
        usize::try_from(config.limits.max_message_bytes).unwrap_or(usize::MAX),
    );
    mx_config.max_connections_per_address = config.limits.smtp_connections_per_address as usize;
    mx_config.max_connections = config.limits.smtp_connections as usize;
    mx_config.connections_per_minute_per_address =
        config.limits.smtp_connections_per_minute_per_address as usize;
    let dns = Arc::new(
        athen_smtp::sender_auth::resolver(&config.dns_servers()?)
            .map_err(|e| anyhow::anyhow!(e))?,
    );
    let sender_auth = athen_smtp::sender_auth::SenderAuth::new(
        dns.clone(),
        &config.server.hostname,
        config.smtp.reject_dmarc_failures,
    );
    // Delivery events go to the sender's audit trail, sealed to its key.
    let audit: Arc<dyn athen_core::audit::AuditSink> = Arc::new(athen_mail::audit::TrailSink {
        mailboxes: data.store.clone(),
        audit: data.store.clone(),
        clock: data.clock.clone(),
    });
    let outbound = Arc::new(athen_smtp::outbound::Outbound::new(
        outbound_config(&config, &data.path)?,
        athen_smtp::outbound::OutboundParts {
            store: data.store.clone(),
            blobs: data.blobs.clone(),
            queue_key: crate::keys::queue_key(&data.path)?,
            dkim: Arc::new(crate::keys::dkim_keys(
                &data.path,
                &config.outbound.dkim_selector,
            )?),
            dns,
            clock: data.clock.clone(),
            audit: audit.clone(),
        },
    ));
    let outbound_worker = tokio::spawn(outbound.clone().run(stop_rx.clone()));
    // Open mailboxes unspool at once what arrives; the store tells them.
    let live = athen_mail::live::LiveMail::new(
        athen_mail::live::LiveParts {
            store: data.store.clone(),
            blobs: data.blobs.clone(),
        },
        INBOX_FIRST_PAGE,
    );
    data.store.listen_for_spool(live.clone());
    let imap = Arc::new(athen_imap::ImapContext {
        config: athen_imap::ImapConfig {
            hostname: config.server.hostname.clone(),
            max_message_bytes: usize::try_from(config.limits.max_message_bytes)
                .unwrap_or(usize::MAX),
            max_connections_per_address: config.limits.imap_connections_per_address as usize,
            max_connections: config.limits.imap_connections as usize,
            connections_per_minute_per_address: config
                .limits
                .imap_connections_per_minute_per_address
                as usize,
            quota_bytes: config.limits.mailbox_quota_mb.saturating_mul(1024 * 1024),
        },
        sessions: sessions.clone(),
        authenticator: Arc::new(data.authenticator(&config)),
        live: live.clone(),
        store: data.store.clone(),
        blobs: data.blobs.clone(),
        queue: Some(outbound.clone()),
        clock: data.clock.clone(),
        tls: TlsAcceptor::from(tls.config.clone()),
        // About 100 MB at most: four million messages' numbers.
        index: athen_imap::index_cache::IndexCache::new(4_000_000),
    });
    let mx = Arc::new(athen_smtp::MxContext {
        outbound: Some(outbound.clone()),
        config: mx_config,
        sender_auth: Arc::new(sender_auth),
        authenticator: Arc::new(data.authenticator(&config)),
        store: data.store.clone(),
        blobs: data.blobs.clone(),
        clock: data.clock.clone(),
        tls: TlsAcceptor::from(tls.config.clone()),
        audit,
    });
    let demo_logins = match mode {
        Mode::Localserve { demo: true } => {
            let submitter = athen_smtp::submission::WebSubmission(mx.clone());
            let logins = crate::demo::prepare(
                &data,
                &config.server.domain,
                config.kdf_params(),
                mx.authenticator.as_ref(),
                &submitter,
            )
            .await
            .context("cannot make the demo practices")?;
            if data.store.count_operators().await? > 0 {
                setup_token = None;
            }
            logins
        }
        _ => Vec::new(),
    };
    let letters_key = Arc::new(crate::keys::queue_key(&data.path)?);
    // The page the welcome letters send people to: this server's own.
    let confirm_url = match https_addr.port() {
        443 => format!("https://{}/confirm", config.server.hostname),
        port => format!("https://{}:{port}/confirm", config.server.hostname),
    };
    let web_state = Arc::new(athen_web::WebState {
        operators: data.store.clone(),
        clock: data.clock.clone(),
        kdf: config.kdf_params(),
        domain: config.server.domain.clone(),
        mail: Some(Arc::new(athen_web::app::MailServices {
            sessions: sessions.clone(),
            authenticator: data.authenticator(&config),
            live,
            store: data.store.clone(),
            blobs: data.blobs.clone(),
            queue: Some(outbound.clone()),
            hostname: config.server.hostname.clone(),
            // Letters written in the browser go the submission port's way.
            submitter: Some(Arc::new(athen_smtp::submission::WebSubmission(mx.clone()))),
            half_signed_in: Default::default(),
        })),
        accounts: Some(Arc::new(athen_web::register::AccountServices::new(
            data.store.clone(),
            letters_key.clone(),
        ))),
        admin: Some(Arc::new(athen_web::admin::AdminServices::new(
            data.store.clone(),
            letters_key,
            config.expiry_policy(),
            confirm_url,
            config.server.hostname.clone(),
            (config.outbound.mode == "catch-all").then(|| data.path.join("catch-all")),
            data.clock.now(),
        ))),
        directory_limit: athen_web::rate::RateLimit::new(
            config.limits.directory_searches_per_minute,
        ),
    });
    let mut https_tls = (*tls.config).clone();
    https_tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let https = tokio::spawn(serve_https(
        listener,
        TlsAcceptor::from(Arc::new(https_tls)),
        athen_web::router(web_state),
        stop_rx.clone(),
    ));
    let mut smtp = vec![tokio::spawn(athen_smtp::listener::serve(
        smtp_listener,
        mx.clone(),
        athen_smtp::Mode::Mx,
        stop_rx.clone(),
    ))];
    for (_, l, implicit_tls) in submission_listeners {
        smtp.push(tokio::spawn(athen_smtp::listener::serve(
            l,
            mx.clone(),
            athen_smtp::Mode::Submission { implicit_tls },
            stop_rx.clone(),
        )));
    }
    for (_, l, implicit_tls) in imap_listeners {
        smtp.push(tokio::spawn(athen_imap::listener::serve(
            l,
            imap.clone(),
            implicit_tls,
            stop_rx.clone(),
        )));
    }
    let housekeeping = tokio::spawn(housekeeping(
        data.store.clone(),
        data.clock.clone(),
        sessions.clone(),
        config.clone(),
        stop_rx,
    ));

    let signals = ShutdownSignal::install()?;
    print_summary(
        &config,
        mode,
        &data,
        &Listening {
            https: https_addr,
            smtp: smtp_addr,
            submission: submission_addrs,
            imap: imap_addrs,
        },
        &tls,
        setup_token.as_deref().map(|s| s.as_str()),
        &demo_logins,
    );
    tracing::info!(https = %https_addr, smtp = %smtp_addr, data_dir = %data.path.display(), "ATHEN started");

    signals.wait().await;
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), https).await;
    for task in smtp {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    let _ = housekeeping.await;
    let _ = tokio::time::timeout(Duration::from_secs(10), outbound_worker).await;
    let locked = sessions.session_count();
    drop(sessions);
    data.store.close().await;
    println!("ATHEN stopped cleanly ({locked} sessions ended, all mailbox keys dropped).");
    Ok(())
}

/// The outbound queue's settings from `[outbound]`.
fn outbound_config(
    config: &Config,
    data_dir: &std::path::Path,
) -> Result<athen_smtp::outbound::OutboundConfig> {
    use athen_smtp::outbound::route::{Routing, Smarthost, StaticRoute};
    let o = &config.outbound;
    let (trust, roots) = athen_smtp::outbound::tls_policy::TlsTrust::load(o.ca_file.as_deref())
        .map_err(|e| anyhow::anyhow!("[outbound] ca_file: {e}"))?;
    tracing::info!(roots, "trust roots loaded for outbound TLS");
    let routing = match o.mode.as_str() {
        "catch-all" => Routing::CatchAll,
        "smarthost" => {
            let auth = match &o.smarthost_password_file {
                Some(path) => {
                    let password = zeroize::Zeroizing::new(
                        std::fs::read_to_string(path)
                            .with_context(|| format!("cannot read {}", path.display()))?
                            .trim_end_matches(['\r', '\n'])
                            .to_string(),
                    );
                    Some((o.smarthost_username.clone(), password))
                }
                None => None,
            };
            Routing::Smarthost(Smarthost {
                host: o.smarthost_host.clone(),
                port: o.smarthost_port,
                implicit_tls: o.smarthost_implicit_tls,
                auth,
                verify_certificate: o.smarthost_verify_certificate,
            })
        }
        _ => Routing::Direct,
    };
    let routes = o
        .routes
        .iter()
        .map(|(domain, target)| {
            let (host, port) = Config::host_port(target)?;
            Ok(StaticRoute {
                domain: domain.to_ascii_lowercase(),
                host,
                port,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(athen_smtp::outbound::OutboundConfig {
        hostname: config.server.hostname.clone(),
        domain: config.server.domain.clone(),
        routing,
        routes,
        plaintext_domains: o.plaintext_domains.clone(),
        retry_intervals: o
            .retry_seconds
            .iter()
            .map(|s| Duration::from_secs(u64::from(*s)))
            .collect(),
        give_up_after: Duration::from_secs(u64::from(o.give_up_after_hours) * 3600),
        delay_report_after: Duration::from_secs(u64::from(o.delay_report_after_minutes) * 60),
        catch_all_dir: data_dir.join("catch-all"),
        poll_interval: Duration::from_secs(u64::from(o.poll_seconds)),
        timeouts: Default::default(),
        max_message_bytes: usize::try_from(config.limits.max_message_bytes).unwrap_or(usize::MAX),
        mx_port: o.mx_port,
        mta_sts_port: o.mta_sts_port,
        dane_resolvers: o.dane.then(|| config.dns_servers()).transpose()?,
        trust,
    })
}

/// Where the services actually listen (ports may have been chosen by the OS).
struct Listening {
    https: SocketAddr,
    smtp: SocketAddr,
    /// STARTTLS, then implicit TLS.
    submission: Vec<SocketAddr>,
    /// STARTTLS, then implicit TLS.
    imap: Vec<SocketAddr>,
}

fn print_summary(
    config: &Config,
    mode: Mode,
    data: &DataDir,
    listening: &Listening,
    tls: &tls::TlsSetup,
    setup_token: Option<&str>,
    demo: &[crate::demo::DemoLogin],
) {
    let (https, smtp) = (listening.https, listening.smtp);
    let host = if https.ip().is_loopback() && matches!(mode, Mode::Localserve { .. }) {
        "localhost".to_string()
    } else {
        config.server.hostname.clone()
    };
    let base = format!("https://{host}:{}/", https.port());
    let mode_name = match mode {
        Mode::Localserve { .. } => "localserve: for trying ATHEN on this computer",
        Mode::Serve => "serve",
    };
    println!(
        "ATHEN {} is running ({mode_name}).",
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "  Data directory:   {} (database, sealed mail, wrapped keys)",
        data.path.display()
    );
    println!("  Mail domain:      {}", config.server.domain);
    println!("  Web (HTTPS):      {base}");
    println!("  HTTPS port:       {}", https.port());
    println!(
        "  TLS certificate:  {}{}",
        tls.certificate.display(),
        if tls.self_signed {
            " (self-signed: your browser will warn)"
        } else {
            ""
        }
    );
    println!(
        "  Certificate SHA-256: {} (athen-fetch setup shows it too)",
        tls.fingerprint
    );
    println!(
        "  SMTP (MX):        {smtp} (STARTTLS required; mail for this server's accounts only)"
    );
    println!("  SMTP port:        {}", smtp.port());
    if let [starttls, implicit] = listening.submission.as_slice() {
        println!(
            "  SMTP submission:  {starttls} (STARTTLS), {implicit} (TLS); log in with password or app token"
        );
        println!("  Submission port:  {}", starttls.port());
        println!("  Submissions port: {}", implicit.port());
    }
    match config.outbound.mode.as_str() {
        "catch-all" => println!(
            "  Mail to other servers: kept in {} (never sent out)",
            data.path.join("catch-all").display()
        ),
        "smarthost" => println!(
            "  Mail to other servers: relayed through {}:{} (TLS required)",
            config.outbound.smarthost_host, config.outbound.smarthost_port
        ),
        _ => println!(
            "  Mail to other servers: sent directly (MX lookup, STARTTLS required; certificates checked under {})",
            if config.outbound.dane {
                "DANE and MTA-STS"
            } else {
                "MTA-STS (DANE is off)"
            }
        ),
    }
    if let [starttls, implicit] = listening.imap.as_slice() {
        println!(
            "  IMAP:             {starttls} (STARTTLS), {implicit} (TLS); log in with password or app token"
        );
        println!("  IMAP port:        {}", starttls.port());
        println!("  IMAPS port:       {}", implicit.port());
    }
    match setup_token {
        Some(t) => {
            println!("  First administrator: open {base}setup?token={t}");
            println!(
                "    (one use only; or run: athen admin --data-dir {} operator create ...)",
                data.path.display()
            );
        }
        None => println!("  Administrators:   set up"),
    }
    if !demo.is_empty() {
        println!("  Demo (for trying ATHEN only; these passwords are printed for everyone):");
        for d in demo {
            let at = if d.login == crate::demo::ADMIN_LOGIN {
                format!("{base}admin")
            } else {
                format!("{base}login")
            };
            println!(
                "    {}: sign in at {at} as {} with \"{}\"",
                d.who, d.login, d.password
            );
        }
    }
    println!("  Stop with Ctrl-C.");
}

/// SIGTERM and Ctrl-C, listened for from the moment this is made: the
/// handlers are installed before the summary is printed, so a signal sent
/// right after start-up stops the server cleanly instead of killing it.
struct ShutdownSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn install() -> Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
                int: signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn serve_https(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_HTTPS_CONNECTIONS));
    let per_address = Arc::new(athen_core::connections::Slots::default());
    loop {
        let permit = tokio::select! {
            _ = stop.changed() => break,
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (tcp, peer) = tokio::select! {
            _ = stop.changed() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = per_address.take(
            peer.ip(),
            MAX_HTTPS_CONNECTIONS_PER_ADDRESS,
            MAX_HTTPS_CONNECTIONS,
        ) else {
            tracing::debug!(%peer, "too many HTTPS connections from one address");
            drop(tcp);
            continue;
        };
        let acceptor = acceptor.clone();
        // Handlers learn the peer (log-in throttling per address).
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            router.clone(),
            move |mut req: axum::http::Request<_>| {
                req.extensions_mut().insert(athen_web::app::PeerAddr(peer));
                req
            },
        ));
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let (_permit, _slot) = (permit, slot);
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let mut builder = ConnBuilder::new(TokioExecutor::new());
            // A client must send its request headers promptly (slow-loris).
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let activity = crate::idle::Activity::new();
            let io = crate::idle::Watched::new(tls, activity.clone());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::select! {
                r = watcher.watch(conn.into_owned()) => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "HTTPS connection ended with an error");
                    }
                }
                () = crate::idle::idle_for(activity, HTTPS_IDLE_TIMEOUT) => {
                    tracing::debug!(%peer, "idle HTTPS connection closed");
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// Periodic work: ending idle sessions (which locks their mailboxes) every
/// minute; the unconfirmed-account sweep and audit trail retention every
/// hour.
async fn housekeeping(
    store: Arc<athen_store::SqliteStore>,
    clock: Arc<dyn athen_core::clock::Clock>,
    sessions: Arc<Sessions>,
    config: Config,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut minutes = 0u32;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        let ended = sessions.sweep();
        if ended > 0 {
            tracing::info!(ended, "idle sessions ended");
        }
        if minutes.is_multiple_of(60) {
            match athen_core::lifecycle::sweep_unconfirmed(
                store.as_ref(),
                clock.as_ref(),
                config.expiry_policy(),
            )
            .await
            {
                Ok(r) if !r.flagged.is_empty() || !r.closed.is_empty() => {
                    tracing::warn!(
                        flagged = r.flagged.len(),
                        closed = r.closed.len(),
                        "unconfirmed accounts swept"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "unconfirmed-account sweep failed"),
            }
            if config.audit.retention_days > 0 {
                let before = clock.now() - i64::from(config.audit.retention_days) * 86_400;
                match athen_mail::audit::expire_all(store.as_ref(), before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "audit entries past retention removed"),
                    Err(e) => tracing::error!(error = %e, "audit retention failed"),
                }
            }
        }
        minutes = minutes.wrapping_add(1);
    }
}
