//! `relance users …`: the people of a tenant's web workspace.
//!
//! * `relance users add --config F --tenant T --name N --role collector`
//!   reads the password from the first line of standard input (so it never
//!   appears in a process list or shell history), hashes it with argon2id and
//!   writes the user to the store, audited as `cli`;
//! * `relance users hash-password` prints the hash of the password read the
//!   same way, for a tenant file's `[[users]]`;
//! * `relance users list --config F --tenant T`.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use relance_config::Settings;
use relance_domain::Language;
use relance_domain::users::Role;
use relance_store::{NewUser, Store, UserSource};

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Add (or change) a user of a tenant; the password is read from standard input.
    Add {
        #[arg(long, short, default_value = "relance.toml")]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// admin, collector or read_only.
        #[arg(long)]
        role: String,
        /// Language of the pages for this person (fr or en); the tenant's by default.
        #[arg(long)]
        language: Option<String>,
    },
    /// Print the argon2 hash of the password read from standard input.
    HashPassword,
    /// List a tenant's users.
    List {
        #[arg(long, short, default_value = "relance.toml")]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
    },
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        bail!("no password on standard input (e.g. `printf '%s\\n' \"$PW\" | relance users add …`)");
    }
    Ok(pw)
}

fn open(config: &std::path::Path, tenant: &str) -> anyhow::Result<Option<(Store, relance_domain::TenantId)>> {
    let settings = match Settings::load(config) {
        Ok(s) => s,
        Err(e) => {
            eprint!("relance: {e}");
            return Ok(None);
        }
    };
    let t = settings.tenant(tenant).with_context(|| format!("no tenant `{tenant}` in {}", config.display()))?;
    let store = Store::open(&settings.database)?;
    Ok(Some((store, t.id.clone())))
}

pub fn run(cmd: UsersCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UsersCommand::HashPassword => {
            println!("{}", relance_web::hash_password(&read_password()?)?);
            Ok(ExitCode::SUCCESS)
        }
        UsersCommand::Add { config, tenant, name, role, language } => {
            if !relance_config::valid_user_name(&name) {
                bail!("`{name}` is not a login name (1 to 64 letters, digits, `.`, `_`, `-`, `@`)");
            }
            let role: Role = role.parse()?;
            let language: Option<Language> = language.map(|l| l.parse()).transpose()?;
            let password_hash = relance_web::hash_password(&read_password()?)?;
            let Some((store, tenant)) = open(&config, &tenant)? else { return Ok(ExitCode::from(2)) };
            let user = NewUser { name: name.clone(), role, password_hash, language };
            store.upsert_user(&tenant, &user, UserSource::Cli, "cli")?;
            println!("user `{name}` of tenant `{tenant}`: {role}");
            Ok(ExitCode::SUCCESS)
        }
        UsersCommand::List { config, tenant } => {
            let Some((store, tenant)) = open(&config, &tenant)? else { return Ok(ExitCode::from(2)) };
            for u in store.users(&tenant)? {
                let locked = u.locked_until.map(|t| format!(" (locked until {t})")).unwrap_or_default();
                println!("{}\t{}\t{:?}{locked}", u.name, u.role, u.source);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
