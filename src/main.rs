//! `relance`: the command line. A thin layer over the `relance-*` crates and
//! `relance-connectors`: parses arguments, loads configuration, installs
//! signal handling and hands over to the runtime.

#![forbid(unsafe_code)]

mod bench;
mod bench_cash;
mod bench_match_store;
mod bench_reports;
mod bench_send;
mod bench_sql;
mod bench_ui;
mod dunning_cmd;
mod match_cmd;
mod match_eval;
mod match_replay;
mod oauth_cmd;
mod replies_cmd;
mod replies_tenant;
mod replies_train;
mod statements_cmd;
mod store_cmd;
mod users_cmd;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use relance_config::Settings;
use relance_connector::{BuiltConnector, ConnectorError};
use relance_runtime::daemon::Runtime;
use relance_runtime::registry::load_and_build;

#[derive(Parser)]
#[command(
    name = "relance",
    version,
    about = "Collections integration gateway: invoice sync, cash application, reply handling, dunning"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: every tenant's connectors on their schedules, and the HTTP API.
    Run {
        /// The global configuration file.
        #[arg(long, short, default_value = "relance.toml")]
        config: PathBuf,
        /// Run every connector once, then exit (non-zero if a connector failed).
        #[arg(long)]
        once: bool,
    },
    /// Validate the configuration (every tenant and connector) without starting anything.
    CheckConfig {
        #[arg(long, short, default_value = "relance.toml")]
        config: PathBuf,
    },
    /// Bank statements: parse files into normalized transactions.
    Statements {
        #[command(subcommand)]
        which: statements_cmd::StatementsCommand,
    },
    /// Customer replies: classify messages, evaluate on a labelled folder.
    Replies {
        #[command(subcommand)]
        which: replies_cmd::RepliesCommand,
    },
    /// Dunning: simulate the reminder timeline, plan the day into the outbox, deliver it.
    Dunning {
        #[command(subcommand)]
        which: dunning_cmd::DunningCommand,
    },
    /// Match the credits of a statement to open invoices (one JSON object per credit);
    /// `match replay` re-runs the rules over a tenant's stored credits.
    Match(match_cmd::MatchArgs),
    /// Print the configuration reference (Markdown) generated from the settings' doc comments:
    /// docs/config.md is this output.
    ConfigReference,
    /// People of the web workspace: add one, or print a password hash for a tenant file.
    Users {
        #[command(subcommand)]
        which: users_cmd::UsersCommand,
    },
    /// OAuth2 for mail connectors: `oauth login` signs in once and stores the refresh token.
    Oauth {
        #[command(subcommand)]
        which: oauth_cmd::OAuthCommand,
    },
    /// The database: `store migrate` creates or upgrades its schema (SQLite or PostgreSQL).
    Store {
        #[command(subcommand)]
        which: store_cmd::StoreCommand,
    },
    /// Measure throughput and memory; prints figures.
    Bench {
        #[command(subcommand)]
        which: bench::BenchCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Hand-off dossiers are summarised with the letters' PDF writer.
    relance_runtime::reminders::handoff::set_pdf_renderer(relance_connectors::letters::dossier::render);
    let result = match cli.command {
        Command::Run { config, once } => run(config, once),
        Command::CheckConfig { config } => check_config(config),
        Command::Statements { which } => statements_cmd::run(which),
        Command::Match(args) => match_cmd::run(args),
        Command::Dunning { which } => dunning_cmd::run(which),
        Command::Replies { which } => replies_cmd::run(which),
        Command::Bench { which } => bench::run(which),
        Command::Users { which } => users_cmd::run(which),
        Command::Oauth { which } => oauth_cmd::run(which),
        Command::Store { which } => store_cmd::run(which),
        Command::ConfigReference => {
            println!("{}", relance_config::reference::render(&relance_connectors::settings_schemas()));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("relance: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads settings and builds connectors, printing every problem and
/// returning exit code 2 on failure.
fn load(config: &Path) -> Result<(Settings, Vec<BuiltConnector>), ExitCode> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    load_and_build(config, &env, &relance_connectors::builtin_registry()).map_err(|errors| {
        eprint!("relance: {errors}");
        ExitCode::from(2)
    })
}

fn check_config(config: PathBuf) -> anyhow::Result<ExitCode> {
    match load(&config) {
        Ok((settings, built)) => {
            println!(
                "configuration OK: {} ({} tenant{}, {} connector{})",
                config.display(),
                settings.tenants.len(),
                if settings.tenants.len() == 1 { "" } else { "s" },
                built.len(),
                if built.len() == 1 { "" } else { "s" }
            );
            for t in &settings.tenants {
                println!("  tenant {} ({}): {}", t.id, t.file.display(), t.timezone);
                for c in built.iter().filter(|c| c.tenant == t.id) {
                    println!(
                        "    connector {} [{}] {} schedule {:?}",
                        c.config.name,
                        c.config.kind,
                        c.connector.role(),
                        c.schedule
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(code) => Ok(code),
    }
}

fn run(config: PathBuf, once: bool) -> anyhow::Result<ExitCode> {
    let (settings, connectors) = match load(&config) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    // One daemon per SQLite database: a second one refuses to start, naming the first.
    let _lock = relance_store::Store::lock_daemon(&settings.database).context("cannot start")?;
    relance_runtime::telemetry::init(settings.log_format, settings.log_level.as_deref());
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = tokio.block_on(async move {
        let grace = settings.shutdown_grace;
        let listen = settings.listen;
        let rt = Runtime::with_connectors(settings, connectors).context("cannot start")?;
        let cancel = CancellationToken::new();
        spawn_signal_handler(cancel.clone());
        if once {
            let results = rt.run_once(cancel).await;
            let mut failed = 0;
            for r in &results {
                match &r.result {
                    Ok(rep) => println!(
                        "{}/{}: ok ({} items, {} quarantined, {} units)",
                        r.tenant, r.connector, rep.items, rep.quarantined, rep.units
                    ),
                    Err(ConnectorError::Cancelled) => println!("{}/{}: interrupted", r.tenant, r.connector),
                    Err(e) => {
                        failed += 1;
                        println!("{}/{}: FAILED: {e}", r.tenant, r.connector);
                    }
                }
            }
            return Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS });
        }
        let listener =
            tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        info!(%listen, tenants = rt.settings.tenants.len(), connectors = rt.connectors.len(), "relance started");
        let tracker = rt.spawn_supervisors(&cancel);
        match relance_web::sync_config_users(&rt) {
            Ok(0) => {}
            Ok(n) => info!(users = n, "web users from the tenant files written"),
            Err(e) => error!(error = %e, "cannot write the web users of the tenant files; they cannot log in"),
        }
        let pages = relance_web::router(rt.clone());
        let api = tokio::spawn(relance_runtime::api::serve_with(listener, rt.clone(), pages, cancel.clone()));
        cancel.cancelled().await;
        info!("shutting down: finishing work in hand");
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            warn!(grace_secs = grace.as_secs(), "some connectors did not stop in time");
        }
        match api.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!(error = %e, "API server error"),
            Err(e) => error!(error = %e, "API task failed"),
        }
        info!("stopped");
        Ok(ExitCode::SUCCESS)
    });
    // A plugin call that never returned keeps a blocking thread: do not wait for it.
    tokio.shutdown_timeout(std::time::Duration::from_secs(1));
    outcome
}

/// First Ctrl-C or SIGTERM: graceful shutdown. Second: immediate exit.
fn spawn_signal_handler(cancel: CancellationToken) {
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "cannot install SIGTERM handler");
                return;
            }
        };
        for n in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if n == 0 {
                info!("signal received");
                cancel.cancel();
            } else {
                eprintln!("relance: second signal, exiting now");
                std::process::exit(130);
            }
        }
    });
}
