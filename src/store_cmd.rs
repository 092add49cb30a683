//! `relance store`: the database itself. `store migrate` brings a database's
//! schema to this binary's version and prints it; for PostgreSQL (issue
//! #17, in progress) it is the only command that uses the database so far.

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
}

pub fn run(which: StoreCommand) -> anyhow::Result<ExitCode> {
    match which {
        StoreCommand::Migrate { database } => migrate(&database),
    }
}

fn migrate(database: &str) -> anyhow::Result<ExitCode> {
    let here = Path::new(".");
    let url = relance_config::resolve_secret(database, here)
        .and_then(|u| DatabaseUrl::parse(&u, here))
        .map_err(|e| anyhow::anyhow!("--database: {e}"))?;
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
