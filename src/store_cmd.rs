//! `relance store`: the database itself. `store migrate` brings a database's
//! schema to this binary's version and prints it; `store copy` copies a
//! whole deployment into a new, empty database (SQLite to PostgreSQL when
//! one machine is outgrown, or back) and verifies every table.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use relance_store::{DatabaseUrl, SQLITE_SCHEMA_VERSION, Store};

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Create or upgrade a database's schema and print its version.
    Migrate {
        /// `postgres://USER@HOST/DB` (`?sslmode=require` for TLS) or
        /// `sqlite:PATH`; `env:VAR` or `file:PATH` reads it from a secret.
        #[arg(long)]
        database: String,
    },
    /// Copy every tenant, the audit trail included, into a new, empty
    /// database, then read it back and compare each table with the source
    /// (row counts and content digests). Stop the daemon first.
    Copy {
        /// The database to read (`sqlite:PATH`, `postgres://…`, `env:VAR`, `file:PATH`).
        #[arg(long)]
        from: String,
        /// The database to write: created or migrated, and refused unless empty.
        #[arg(long)]
        to: String,
    },
}

pub fn run(which: StoreCommand) -> anyhow::Result<ExitCode> {
    match which {
        StoreCommand::Migrate { database } => migrate(&database),
        StoreCommand::Copy { from, to } => copy(&from, &to),
    }
}

fn database_url(flag: &str, value: &str) -> anyhow::Result<DatabaseUrl> {
    let here = Path::new(".");
    relance_config::resolve_secret(value, here)
        .and_then(|u| DatabaseUrl::parse(&u, here))
        .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

fn describe(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
        DatabaseUrl::Postgres(pg) => pg.to_string(),
    }
}

fn copy(from: &str, to: &str) -> anyhow::Result<ExitCode> {
    let (from, to) = (database_url("--from", from)?, database_url("--to", to)?);
    let (from_text, to_text) = (describe(&from), describe(&to));
    println!("copying {from_text} to {to_text}");
    let started = std::time::Instant::now();
    let report = relance_store::copy_database(&from, &to, &mut |table, d| {
        if d.rows > 0 {
            println!("  {table:<24} {:>10} row(s)", d.rows);
        }
    })
    .with_context(|| format!("cannot copy {from_text} to {to_text}"))?;
    let secs = started.elapsed().as_secs_f64();
    let rows = report.rows();
    let mismatches = report.mismatches();
    if !mismatches.is_empty() {
        for t in &mismatches {
            eprintln!(
                "  {}: source {} row(s), digest {}; destination {} row(s), digest {}",
                t.name,
                t.source.rows,
                t.source.hex(),
                t.destination.rows,
                t.destination.hex()
            );
        }
        eprintln!("error: {} table(s) differ after the copy: do not use {to_text}", mismatches.len());
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "copied {rows} row(s) in {} table(s) in {secs:.1} s ({:.0} rows/s); verified: every table's count and digest match",
        report.tables.len(),
        rows as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

fn migrate(database: &str) -> anyhow::Result<ExitCode> {
    let url = database_url("--database", database)?;
    match &url {
        DatabaseUrl::Postgres(pg) => {
            let done = relance_store::migrate_postgres(pg).with_context(|| format!("cannot migrate {pg}"))?;
            match (done.applied.first(), done.applied.last()) {
                (Some(first), Some(last)) => println!(
                    "PostgreSQL schema at version {} ({} migration(s) applied: {first} .. {last})",
                    done.to,
                    done.applied.len()
                ),
                _ => println!("PostgreSQL schema at version {} (up to date, nothing applied)", done.to),
            }
        }
        DatabaseUrl::Sqlite(path) => {
            Store::open_sqlite(path).with_context(|| format!("cannot migrate {}", path.display()))?;
            println!("SQLite schema at version {SQLITE_SCHEMA_VERSION} ({})", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
