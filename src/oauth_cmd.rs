//! `relance oauth login --config F --tenant T --connector C [--archive]`:
//! the one-time sign-in of an OAuth2 mail connector (authorisation-code
//! flow, see `relance_connectors::oauth`).
//!
//! Prints the address to open (PKCE S256, a random state, the mailbox as
//! `login_hint`), reads from standard input the address the browser was
//! sent back to (or the bare code), exchanges the code for tokens, writes
//! the refresh token to a secret file (mode 0600: `--secret-file`, else the
//! connector's `refresh_token = "file:…"`, else
//! `<tenant dir>/secrets/<connector>.refresh-token`) and prints the line to
//! put in the tenant file. No token is ever printed. For `client_credentials`
//! there is nothing to sign in: the command asks for a token once and says
//! whether app-only access works.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use relance_config::Settings;
use relance_connectors::oauth::{Flow, TokenSource, login_config, write_secret_file};

#[derive(Subcommand)]
pub enum OAuthCommand {
    /// Sign in once for a mail connector and store its refresh token as a secret file.
    Login {
        #[arg(long, short, default_value = "relance.toml")]
        config: PathBuf,
        #[arg(long)]
        tenant: String,
        /// The `imap_mailbox` or `smtp` connector.
        #[arg(long)]
        connector: String,
        /// The SMTP connector's sent archive (`[connectors.<name>.archive.oauth]`).
        #[arg(long)]
        archive: bool,
        /// Where to write the refresh token (default: the connector's `refresh_token = "file:…"`).
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
}

pub fn run(cmd: OAuthCommand) -> anyhow::Result<ExitCode> {
    let OAuthCommand::Login { config, tenant, connector, archive, secret_file } = cmd;
    let settings = Settings::load(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(t) = settings.tenants.iter().find(|t| t.id.to_string() == tenant) else {
        bail!("no tenant `{tenant}` in {}", config.display());
    };
    let Some(c) = t.connectors.iter().find(|c| c.name == connector) else {
        bail!("tenant `{tenant}` has no connector `{connector}`");
    };
    let (cfg, user) = login_config(t, c, archive).map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("tokio runtime")?;
    if cfg.flow == Flow::ClientCredentials {
        let source = TokenSource::new(cfg);
        rt.block_on(source.token())?;
        println!("app-only access works: the token endpoint issued a token (client_credentials needs no sign-in)");
        return Ok(ExitCode::SUCCESS);
    }
    let auth = cfg.authorization(user.as_deref()).map_err(anyhow::Error::msg)?;
    println!("Open this address in a browser and sign in as {}:", user.as_deref().unwrap_or("the mailbox's account"));
    println!();
    println!("{}", auth.url);
    println!();
    println!(
        "Then paste here the whole address the browser was sent back to ({}?code=…), or just the code:",
        cfg.redirect_uri
    );
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read from standard input")?;
    let grant = rt.block_on(cfg.exchange(&auth, &line))?;
    let Some(refresh) = grant.refresh_token else { bail!("the provider issued no refresh token") };
    let path = secret_file.or_else(|| cfg.refresh_file.clone()).unwrap_or_else(|| {
        t.base_dir.join("secrets").join(format!("{connector}{}.refresh-token", if archive { "-archive" } else { "" }))
    });
    let path = if path.is_absolute() { path } else { std::env::current_dir()?.join(path) };
    write_secret_file(&path, &refresh).map_err(anyhow::Error::msg)?;
    println!("The refresh token is in {} (mode 0600). In [{}], set:", path.display(), cfg.key);
    println!("refresh_token = \"file:{}\"", path.display());
    Ok(ExitCode::SUCCESS)
}
