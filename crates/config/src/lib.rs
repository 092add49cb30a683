//! Configuration: one global `relance.toml` plus one file per tenant.
//!
//! Files are read with the `config` crate and can be overridden by environment
//! variables: `RELANCE__LISTEN=…` for global keys and
//! `RELANCE__TENANT__<ID>__<KEY>__<SUBKEY>=…` for a tenant's keys. Environment
//! keys are case-insensitive, which is why tenant and connector names must be
//! lower-case snake_case.
//!
//! Loading compiles the raw files into validated [`Settings`]: paths resolved
//! against the file that names them, secrets (`env:VAR`, `file:/path`) read,
//! API tokens hashed, dunning scenarios and template overrides read and
//! checked once (see [`scenarios`]; nothing re-reads them after load), the
//! holiday calendar chosen. Every problem is collected and reported
//! together, each naming its file and key ([`ConfigError`]). Connector
//! settings are validated by the connector factories (see `relance_connector`).

#![forbid(unsafe_code)]

mod duration;
mod events;
mod http;
pub mod reference;
pub mod scenarios;
mod secret;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use relance_domain::money::Currency;
use relance_domain::users::Role;
use relance_domain::{Language, TenantId, is_snake_identifier};
use relance_engine::dunning::HolidayCountry;
use relance_engine::dunning::templates::Templates;
use relance_engine::matching::MatchConfig;

pub use duration::parse_duration;
pub use events::{EventSettings, EventWebhook};
pub use http::{HttpSettings, RateLimit};
pub use relance_store::DatabaseUrl;
pub use scenarios::{CompiledScenario, load_scenario};
pub use secret::resolve_secret;

/// One configuration problem, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted key path inside the file (`connectors.erp.path`), when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl ConfigError {
    pub fn new(file: &Path, key: Option<&str>, message: impl Into<String>) -> ConfigError {
        ConfigError { file: file.to_path_buf(), key: key.map(str::to_string), message: message.into() }
    }
}

/// All problems found while loading, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem{}):", self.0.len(), if self.0.len() == 1 { "" } else { "s" })?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `relance.toml`: where the daemon listens and keeps its data, where the
/// tenant, scenario and template files are.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct GlobalFile {
    /// Address of the HTTP API.
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    /// Where the database, kept raw inputs and quarantined files live (relative to this file).
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    /// Log output format.
    #[serde(default)]
    log_format: LogFormat,
    /// A tracing filter such as `info` or `relance_runtime=debug`; `RUST_LOG` wins when set.
    #[serde(default)]
    log_level: Option<String>,
    /// Folder of the tenant files (`*.toml`), relative to this file.
    #[serde(default = "default_tenants_dir")]
    tenants_dir: PathBuf,
    /// The database.
    #[serde(default)]
    database: DatabaseFile,
    /// How long a graceful shutdown may take before tasks are abandoned.
    #[serde(default = "default_grace")]
    shutdown_grace: String,
    /// Folder of the dunning scenario files (`<name>.toml`), relative to this file.
    #[serde(default = "default_scenarios_dir")]
    scenarios_dir: PathBuf,
    /// Folder of reminder template overrides for every tenant,
    /// `<lang>/<name>.jinja`, relative to this file; built-in templates only when unset.
    #[serde(default)]
    templates_dir: Option<PathBuf>,
    /// Folder of connector plugins (`*.so`), relative to this file; none are loaded when unset.
    #[serde(default)]
    plugins_dir: Option<PathBuf>,
    /// Limits of the HTTP API server.
    #[serde(default)]
    http: http::HttpFile,
}

/// `[database]`: where Relance stores its state.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DatabaseFile {
    /// `sqlite:PATH` (relative to `data_dir`); default `sqlite:relance.db`.
    /// `postgres://USER@HOST/DB` (or an `env:VAR` / `file:PATH` secret
    /// reference to it) is accepted, but only `relance store migrate` uses it
    /// yet: the PostgreSQL store is in progress (issue #17).
    #[serde(default)]
    url: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_tenants_dir() -> PathBuf {
    PathBuf::from("tenants")
}
fn default_scenarios_dir() -> PathBuf {
    PathBuf::from("scenarios")
}
fn default_grace() -> String {
    "30s".to_string()
}
fn default_timezone() -> String {
    "Europe/Paris".to_string()
}
fn default_currency() -> Currency {
    Currency::EUR
}

/// A tenant: one company whose invoices are collected, with its connectors.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    /// Tenant id (lower-case snake_case, used in API paths); defaults to the file name without `.toml`.
    #[serde(default)]
    id: Option<String>,
    /// Company name shown in reminders (defaults to the id).
    #[serde(default)]
    name: Option<String>,
    /// IANA time zone for due dates, sending windows and "end of the month".
    #[serde(default = "default_timezone")]
    timezone: String,
    /// Language of customers whose language is unknown: `fr` or `en`.
    #[serde(default)]
    #[schemars(with = "String")]
    language: Language,
    /// Currency assumed when a source gives none (ISO 4217 code).
    #[serde(default = "default_currency")]
    #[schemars(with = "String")]
    currency: Currency,
    /// Names of the dunning scenarios this tenant uses (`<scenarios_dir>/<name>.toml`), in
    /// order: a customer follows the first whose `when` conditions match.
    #[serde(default)]
    scenarios: Vec<String>,
    /// Access to this tenant's part of the HTTP API.
    #[serde(default)]
    api: ApiFile,
    /// How and when this tenant's reminders go out.
    #[serde(default)]
    dunning: DunningFile,
    /// `[matching]`: how this tenant's credits are matched to its invoices.
    #[serde(default)]
    matching: MatchConfig,
    /// The tenant's connectors, by name (lower-case snake_case).
    #[serde(default)]
    connectors: BTreeMap<String, RawConnector>,
    /// `[[users]]`: people who log in to the web workspace (more can be added
    /// with `relance users add`).
    #[serde(default)]
    users: Vec<UserFile>,
    /// `[events]`: subscribers of the tenant's domain events (docs/events.md).
    #[serde(default)]
    events: events::EventsFile,
}

/// `[[users]]`: a person who logs in to the web workspace.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct UserFile {
    /// Login name, unique in the tenant (letters, digits, `.`, `_`, `-`, `@`).
    name: String,
    /// `admin`, `collector` or `read_only` (sees everything, acts on nothing).
    #[schemars(with = "String")]
    role: Role,
    /// The password's argon2 hash in PHC form (`$argon2id$v=19$…`), as printed by
    /// `relance users hash-password`. Never the password itself.
    password_hash: String,
    /// Language of the pages for this person (`fr` or `en`); the tenant's by default.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    language: Option<Language>,
}

/// `[dunning]`: how and when this tenant's reminders go out.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DunningFile {
    /// Plan and deliver reminders from the daemon; when off, only
    /// `relance dunning run` / `relance dunning deliver` do.
    #[serde(default)]
    auto: bool,
    /// Local sending window, `HH:MM-HH:MM` in the tenant's time zone.
    #[serde(default = "default_window")]
    window: String,
    /// Public holidays when no reminder goes out: a country code (`FR`, `BE`,
    /// `DE`, `ES`, `GB`, `IT`, `LU`, `NL`) or `none` for weekends only.
    #[serde(default = "default_country")]
    country: String,
    /// Days off besides the country's public holidays (`YYYY-MM-DD`).
    #[serde(default)]
    extra_holidays: Vec<chrono::NaiveDate>,
    /// Folder of this tenant's template overrides, `<lang>/<name>.jinja`
    /// (relative to the tenant file); they win over the global `templates_dir`.
    #[serde(default)]
    templates_dir: Option<PathBuf>,
    /// Explicit scenario per customer id (wins over the scenarios' `when` rules).
    #[serde(default)]
    assign: BTreeMap<String, String>,
    /// Folder of invoice documents named `<invoice number>.pdf`, attached to
    /// emails when present (relative to the tenant file).
    #[serde(default)]
    invoice_documents: Option<PathBuf>,
    /// Sender block of letters (company name first, then address lines).
    #[serde(default)]
    sender_address: Vec<String>,
    /// Delivery attempts before a reminder is quarantined as failed.
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
    /// Late-payment interest shown in formal notices and penalty reminders.
    #[serde(default)]
    late_interest: LateInterestFile,
    /// Days the reminders of invoices a customer says it already paid are
    /// held while the payment is looked for in the bank (a proof of payment
    /// is asked for once); they resume the day after unless a credit was
    /// found. 1 to 90.
    #[serde(default = "default_claimed_paid_hold_days")]
    claimed_paid_hold_days: u32,
}

/// `[dunning.late_interest]`: the yearly late-payment interest rate. By
/// default French law's: the ECB's main refinancing rate of the half-year
/// (the rate in force on 1 January or 1 July) plus 10 points; list the
/// ECB rates as they are published. A contractual rate wins when set.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct LateInterestFile {
    /// A fixed contractual yearly rate in percent (`"12.00"`), instead of reference + margin.
    #[serde(default)]
    contractual_rate: Option<String>,
    /// The reference rate from a day on, in percent: `[{ from = "2026-01-01", rate = "2.15" }]`.
    /// The latest `from` on or before the day counts; the built-in 2.15 % when none applies.
    #[serde(default)]
    reference_rates: Vec<ReferenceRateFile>,
    /// Points added to the reference rate, in percent (default `"10"`).
    #[serde(default)]
    margin: Option<String>,
}

/// One reference rate and the day it applies from.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReferenceRateFile {
    from: chrono::NaiveDate,
    rate: String,
}

impl Default for DunningFile {
    fn default() -> Self {
        DunningFile {
            auto: false,
            window: default_window(),
            country: default_country(),
            extra_holidays: Vec::new(),
            templates_dir: None,
            assign: BTreeMap::new(),
            invoice_documents: None,
            sender_address: Vec::new(),
            max_attempts: default_max_attempts(),
            late_interest: LateInterestFile::default(),
            claimed_paid_hold_days: default_claimed_paid_hold_days(),
        }
    }
}

fn default_country() -> String {
    "FR".to_string()
}
fn default_window() -> String {
    "08:30-18:00".to_string()
}
fn default_max_attempts() -> u32 {
    5
}
fn default_claimed_paid_hold_days() -> u32 {
    10
}

/// A tenant's validated `[dunning]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DunningSettings {
    pub auto: bool,
    /// Local times: reminders leave at or after `.0` and before `.1`.
    pub window: (chrono::NaiveTime, chrono::NaiveTime),
    /// Whose public holidays are days off.
    pub country: HolidayCountry,
    pub extra_holidays: Vec<chrono::NaiveDate>,
    /// The tenant's own template overrides folder, resolved.
    pub templates_dir: Option<PathBuf>,
    pub assign: BTreeMap<String, String>,
    pub invoice_documents: Option<PathBuf>,
    pub sender_address: Vec<String>,
    pub max_attempts: u32,
    pub late_interest: relance_engine::dunning::templates::LateInterest,
    /// Days reminders are held after a customer says it already paid.
    pub claimed_paid_hold_days: u32,
}

impl Default for DunningSettings {
    fn default() -> Self {
        let t = |h| chrono::NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default();
        DunningSettings {
            auto: false,
            window: (t(8) + chrono::Duration::minutes(30), t(18)),
            country: HolidayCountry::Fr,
            extra_holidays: Vec::new(),
            templates_dir: None,
            assign: BTreeMap::new(),
            invoice_documents: None,
            sender_address: Vec::new(),
            max_attempts: default_max_attempts(),
            late_interest: Default::default(),
            claimed_paid_hold_days: default_claimed_paid_hold_days(),
        }
    }
}

/// Parses `HH:MM-HH:MM` (start before end).
pub fn parse_window(text: &str) -> Result<(chrono::NaiveTime, chrono::NaiveTime), String> {
    let bad = || format!("`{text}`: expected a local time window such as 08:30-18:00");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let time = |t: &str| chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad());
    let (start, end) = (time(a)?, time(b)?);
    if start >= end {
        return Err(format!("`{text}`: the window must start before it ends"));
    }
    Ok((start, end))
}

/// `[api]`: the bearer tokens that give access to this tenant in the HTTP API.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ApiFile {
    /// Bearer tokens, as literals or `env:VAR` / `file:/path` references.
    #[serde(default)]
    tokens: Vec<String>,
    /// SHA-256 (hex) of bearer tokens, for configurations that must not hold the token.
    #[serde(default)]
    token_sha256: Vec<String>,
}

/// A connector as written in a tenant file: the fields common to every kind,
/// and the kind-specific settings that its factory validates.
///
/// The keys every connector has; the other keys depend on its `kind` (see "Connector kinds").
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct RawConnector {
    /// The connector kind (`csv_invoices`, `smtp`… or a plugin's).
    pub kind: String,
    /// `false` keeps the connector configured but idle (default `true`).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// `watch` (file system events, with a safety poll; `watch 5m` sets the poll), or an interval
    /// such as `every 5m` or `5m`; each kind has its own default.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Retries of a failed run.
    #[serde(default)]
    pub retry: Option<RetryFile>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// `[connectors.<name>.retry]`: exponential backoff with jitter between the attempts of one run.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryFile {
    /// Attempts of one run before it counts as failed (default 5).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// Wait before the second attempt, doubled at each one (default `1s`).
    #[serde(default)]
    pub initial: Option<String>,
    /// Longest wait between two attempts (default `5m`).
    #[serde(default)]
    pub max: Option<String>,
}

/// When a connector runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Every `Duration`.
    Interval(Duration),
    /// On file-system events, and every `poll` in case events are missed.
    Watch { poll: Duration },
}

/// Retry policy of one connector run: exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 5, initial: Duration::from_secs(1), max: Duration::from_secs(300) }
    }
}

/// A connector entry after the common fields were validated.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub schedule: Option<Schedule>,
    pub retry: RetryPolicy,
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// A validated tenant.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    pub id: TenantId,
    pub name: String,
    pub file: PathBuf,
    /// Directory of the tenant file: relative paths in connector settings start here.
    pub base_dir: PathBuf,
    pub timezone: chrono_tz::Tz,
    pub language: Language,
    pub currency: Currency,
    /// The tenant's dunning scenarios, read and checked at load, in the
    /// order the tenant file lists them.
    pub scenarios: Vec<CompiledScenario>,
    /// Reminder templates: the built-in ones with the global and the
    /// tenant's overrides, checked at load.
    pub templates: Templates,
    /// SHA-256 digests of the tenant's API tokens.
    pub token_hashes: Vec<[u8; 32]>,
    pub dunning: DunningSettings,
    /// Cash application settings, one set per tenant whatever the bank connector.
    pub matching: MatchConfig,
    pub connectors: Vec<ConnectorConfig>,
    /// People declared in the tenant file for the web workspace.
    pub users: Vec<UserConfig>,
    /// Subscribers of the tenant's domain events.
    pub events: EventSettings,
}

/// A person declared in a tenant file (`[[users]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConfig {
    pub name: String,
    pub role: Role,
    /// argon2 PHC string (checked to start with `$argon2` at load).
    pub password_hash: String,
    pub language: Option<Language>,
}

/// Whether `name` is a valid login name: 1 to 64 of letters, digits, `.`,
/// `_`, `-` and `@`.
pub fn valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub file: PathBuf,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub log_level: Option<String>,
    pub database: DatabaseUrl,
    pub shutdown_grace: Duration,
    pub scenarios_dir: PathBuf,
    /// Global template overrides folder, resolved.
    pub templates_dir: Option<PathBuf>,
    pub plugins_dir: Option<PathBuf>,
    pub http: HttpSettings,
    pub tenants: Vec<TenantConfig>,
}

/// Joins `rel` onto `base` and removes `.` and `..` components lexically, so
/// paths in logs and messages read `config/demo/exports` rather than
/// `config/demo/tenants/../exports`. An absolute `rel` replaces `base`.
pub fn join_clean(base: &Path, rel: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in base.join(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Digest used to store and compare API tokens.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Settings {
    /// Loads and validates the global file and every tenant file, with
    /// environment overrides from the process environment.
    pub fn load(path: &Path) -> Result<Settings, ConfigErrors> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Settings::load_with_env(path, &env)
    }

    /// Same as [`Settings::load`] with an explicit environment (for tests).
    pub fn load_with_env(path: &Path, env: &[(String, String)]) -> Result<Settings, ConfigErrors> {
        let (settings, errors) = Settings::load_partial(path, env)?;
        if errors.is_empty() { Ok(settings) } else { Err(ConfigErrors(errors)) }
    }

    /// Loads what can be loaded and returns it with every problem found, so
    /// callers can go on validating (connectors) and report everything at once.
    /// Fails outright only when the global file itself is unusable.
    pub fn load_partial(path: &Path, env: &[(String, String)]) -> Result<(Settings, Vec<ConfigError>), ConfigErrors> {
        let mut errors = Vec::new();
        let (global_env, tenant_env) = split_env(env);
        let global: GlobalFile = match read_toml(path, "RELANCE", global_env) {
            Ok(g) => g,
            Err(e) => return Err(ConfigErrors(vec![e])),
        };
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let data_dir = join_clean(&base, &global.data_dir);
        let database = match global.database.url.as_deref() {
            None => DatabaseUrl::Sqlite(data_dir.join("relance.db")),
            // A PostgreSQL URL may hold a password: a secret reference
            // (`env:`/`file:`) keeps it out of the file, and errors never
            // repeat the value.
            Some(url) => match resolve_secret(url, &base).and_then(|u| DatabaseUrl::parse(&u, &data_dir)) {
                Ok(db) => db,
                Err(e) => {
                    errors.push(ConfigError::new(path, Some("database.url"), e));
                    DatabaseUrl::Sqlite(data_dir.join("relance.db"))
                }
            },
        };
        let shutdown_grace = parse_duration(&global.shutdown_grace).unwrap_or_else(|e| {
            errors.push(ConfigError::new(path, Some("shutdown_grace"), e));
            Duration::from_secs(30)
        });
        let http = global.http.validate(path, &mut errors);
        let scenarios_dir = join_clean(&base, &global.scenarios_dir);
        let templates_dir = global.templates_dir.as_ref().map(|d| join_clean(&base, d));
        let global_templates = templates_dir
            .as_ref()
            .map(|d| scenarios::TemplateDir::read(d, path, "templates_dir", &mut errors))
            .unwrap_or_default();
        let tenants_dir = join_clean(&base, &global.tenants_dir);
        let mut tenants = Vec::new();
        match tenant_files(&tenants_dir) {
            Ok(files) => {
                if files.is_empty() {
                    errors.push(ConfigError::new(
                        path,
                        Some("tenants_dir"),
                        format!("no tenant file (*.toml) in {}", tenants_dir.display()),
                    ));
                }
                for file in files {
                    let (tenant, mut es) = load_tenant(&file, &tenant_env);
                    errors.append(&mut es);
                    if let Some((mut tenant, names)) = tenant {
                        compile_dunning(&mut tenant, &names, &scenarios_dir, &global_templates, &mut errors);
                        tenants.push(tenant);
                    }
                }
            }
            Err(e) => errors.push(ConfigError::new(
                path,
                Some("tenants_dir"),
                format!("cannot read {}: {e}", tenants_dir.display()),
            )),
        }
        check_tenant_set(path, &tenants, &tenant_env, &mut errors);
        let settings = Settings {
            file: path.to_path_buf(),
            listen: global.listen,
            data_dir,
            log_format: global.log_format,
            log_level: global.log_level,
            database,
            shutdown_grace,
            scenarios_dir,
            templates_dir,
            plugins_dir: global.plugins_dir.map(|p| join_clean(&base, &p)),
            http,
            tenants,
        };
        Ok((settings, errors))
    }

    pub fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.id.as_str() == id)
    }
}

/// Tenant ids unique, tokens unique across tenants, env overrides aimed at existing tenants.
fn check_tenant_set(
    path: &Path,
    tenants: &[TenantConfig],
    tenant_env: &BTreeMap<String, Vec<(String, String)>>,
    errors: &mut Vec<ConfigError>,
) {
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    let mut token_owner: HashMap<[u8; 32], &str> = HashMap::new();
    for t in tenants {
        if let Some(other) = seen.insert(t.id.as_str(), &t.file) {
            errors.push(ConfigError::new(
                &t.file,
                Some("id"),
                format!("tenant `{}` is already defined in {}", t.id, other.display()),
            ));
        }
        for h in &t.token_hashes {
            if let Some(owner) = token_owner.insert(*h, t.id.as_str())
                && owner != t.id.as_str()
            {
                errors.push(ConfigError::new(
                    &t.file,
                    Some("api.tokens"),
                    format!("a token of this tenant is also a token of tenant `{owner}`"),
                ));
            }
        }
    }
    for (id, vars) in tenant_env {
        if !tenants.iter().any(|t| t.id.as_str() == id) {
            errors.push(ConfigError::new(
                path,
                None,
                format!("environment variable {} overrides unknown tenant `{id}`", vars[0].0),
            ));
        }
    }
}

type EnvVars = Vec<(String, String)>;

/// Splits `RELANCE__*` variables into global ones and per-tenant ones
/// (`RELANCE__TENANT__<ID>__…`, keyed by lower-cased id).
fn split_env(env: &[(String, String)]) -> (EnvVars, BTreeMap<String, EnvVars>) {
    let mut global = Vec::new();
    let mut tenants: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (k, v) in env {
        let upper = k.to_ascii_uppercase();
        if let Some(rest) = upper.strip_prefix("RELANCE__TENANT__") {
            if let Some((id, _)) = rest.split_once("__") {
                tenants.entry(id.to_ascii_lowercase()).or_default().push((k.clone(), v.clone()));
            }
        } else if upper.starts_with("RELANCE__") {
            global.push((k.clone(), v.clone()));
        }
    }
    (global, tenants)
}

fn tenant_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Reads one TOML file merged with environment overrides under `prefix`, and
/// deserializes it, reporting the key path of any error.
fn read_toml<T: DeserializeOwned>(path: &Path, prefix: &str, env: Vec<(String, String)>) -> Result<T, ConfigError> {
    if !path.is_file() {
        return Err(ConfigError::new(path, None, "file not found"));
    }
    let env_map: config::Map<String, String> = env.into_iter().collect();
    let built = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml).required(true))
        .add_source(
            config::Environment::with_prefix(prefix)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env_map)),
        )
        .build()
        .map_err(|e| ConfigError::new(path, None, e.to_string()))?;
    serde_path_to_error::deserialize(built).map_err(|e| {
        let key = e.path().to_string();
        let message = strip_key_suffix(&e.inner().to_string());
        ConfigError::new(path, if key == "." || key.is_empty() { None } else { Some(&key) }, message)
    })
}

/// The `config` crate appends its own location to some messages; we print ours.
fn strip_key_suffix(message: &str) -> String {
    match message.find(" for key `") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Loads one tenant file. The tenant is returned whenever the file could be
/// read, with placeholder values where a key was invalid, so its connectors
/// can still be validated; the errors say what was wrong.
fn load_tenant(file: &Path, tenant_env: &BTreeMap<String, Vec<(String, String)>>) -> TenantLoad {
    match load_tenant_inner(file, tenant_env) {
        Ok(r) => r,
        Err(e) => (None, e),
    }
}

/// The tenant (with the names of its scenarios, compiled next) and the problems found.
type TenantLoad = (Option<(TenantConfig, Vec<String>)>, Vec<ConfigError>);

/// Compiles the tenant's templates (built in, then the global overrides,
/// then its own) and its scenarios against them.
fn compile_dunning(
    tenant: &mut TenantConfig,
    names: &[String],
    scenarios_dir: &Path,
    global: &scenarios::TemplateDir,
    errors: &mut Vec<ConfigError>,
) {
    let mut templates = Templates::builtin();
    global.apply(&mut templates);
    if let Some(dir) = &tenant.dunning.templates_dir {
        scenarios::TemplateDir::read(dir, &tenant.file, "dunning.templates_dir", errors).apply(&mut templates);
    }
    let (compiled, mut es) = scenarios::compile_scenarios(&tenant.file, scenarios_dir, names, &templates);
    errors.append(&mut es);
    tenant.scenarios = compiled;
    tenant.templates = templates;
}

fn load_tenant_inner(
    file: &Path,
    tenant_env: &BTreeMap<String, Vec<(String, String)>>,
) -> Result<TenantLoad, Vec<ConfigError>> {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    // The id may be set inside the file; env overrides are looked up by the
    // file name first, then by the declared id once it is known.
    let env_for = |id: &str| tenant_env.get(id).cloned().unwrap_or_default();
    let prefix = |id: &str| format!("RELANCE__TENANT__{}", id.to_ascii_uppercase());
    let raw: TenantFile = read_toml(file, &prefix(&stem), env_for(&stem)).map_err(|e| vec![e])?;
    let raw = match &raw.id {
        Some(id) if id != &stem => read_toml(file, &prefix(id), env_for(id)).map_err(|e| vec![e])?,
        _ => raw,
    };
    let mut errors = Vec::new();
    let id_text = raw.id.clone().unwrap_or(stem);
    let id = TenantId::new(&id_text).map_err(|e| vec![ConfigError::new(file, Some("id"), e.to_string())])?;
    let timezone = raw.timezone.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
        errors.push(ConfigError::new(
            file,
            Some("timezone"),
            format!("`{}` is not an IANA time zone (expected e.g. Europe/Paris)", raw.timezone),
        ));
        chrono_tz::Tz::UTC
    });
    let mut token_hashes = Vec::new();
    for (i, t) in raw.api.tokens.iter().enumerate() {
        match resolve_secret(t, file.parent().unwrap_or(Path::new("."))) {
            Ok(v) if v.len() >= 8 => token_hashes.push(token_digest(&v)),
            Ok(_) => errors.push(ConfigError::new(
                file,
                Some(&format!("api.tokens[{i}]")),
                "a token needs at least 8 characters",
            )),
            Err(e) => errors.push(ConfigError::new(file, Some(&format!("api.tokens[{i}]")), e)),
        }
    }
    for (i, h) in raw.api.token_sha256.iter().enumerate() {
        match hex::decode(h.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()) {
            Some(d) => token_hashes.push(d),
            None => errors.push(ConfigError::new(
                file,
                Some(&format!("api.token_sha256[{i}]")),
                "expected 64 hexadecimal characters (sha256 of the token)",
            )),
        }
    }
    let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let dunning = dunning_settings(file, &base_dir, &raw.scenarios, raw.dunning, &mut errors);
    if !(0.0..=1.0).contains(&raw.matching.auto_threshold) {
        errors.push(ConfigError::new(file, Some("matching.auto_threshold"), "expected a number between 0 and 1"));
    }
    let mut connectors = Vec::new();
    for (name, rc) in raw.connectors {
        match validate_connector(file, &name, rc) {
            Ok(c) => connectors.push(c),
            Err(mut es) => errors.append(&mut es),
        }
    }
    let mut users: Vec<UserConfig> = Vec::new();
    for (i, u) in raw.users.into_iter().enumerate() {
        let at = format!("users[{i}]");
        if !valid_user_name(&u.name) {
            errors.push(ConfigError::new(
                file,
                Some(&format!("{at}.name")),
                format!("`{}` is not a login name (1 to 64 letters, digits, `.`, `_`, `-`, `@`)", u.name),
            ));
        } else if users.iter().any(|o| o.name == u.name) {
            errors.push(ConfigError::new(
                file,
                Some(&format!("{at}.name")),
                format!("user `{}` is declared twice", u.name),
            ));
        } else if !u.password_hash.starts_with("$argon2") {
            errors.push(ConfigError::new(
                file,
                Some(&format!("{at}.password_hash")),
                "expected an argon2 hash in PHC form (`$argon2id$v=19$…`), as printed by `relance users hash-password`",
            ));
        } else {
            users.push(UserConfig { name: u.name, role: u.role, password_hash: u.password_hash, language: u.language });
        }
    }
    let events = events::event_settings(file, &base_dir, raw.events, &mut errors);
    let tenant = TenantConfig {
        name: raw.name.unwrap_or_else(|| id.to_string()),
        id,
        file: file.to_path_buf(),
        base_dir,
        timezone,
        language: raw.language,
        currency: raw.currency,
        scenarios: Vec::new(),
        templates: Templates::builtin(),
        token_hashes,
        dunning,
        matching: raw.matching,
        connectors,
        users,
        events,
    };
    Ok((Some((tenant, raw.scenarios)), errors))
}

fn dunning_settings(
    file: &Path,
    base_dir: &Path,
    scenarios: &[String],
    raw: DunningFile,
    errors: &mut Vec<ConfigError>,
) -> DunningSettings {
    let mut out = DunningSettings::default();
    match parse_window(&raw.window) {
        Ok(w) => out.window = w,
        Err(e) => errors.push(ConfigError::new(file, Some("dunning.window"), e)),
    }
    for (customer, scenario) in &raw.assign {
        if !scenarios.contains(scenario) {
            errors.push(ConfigError::new(
                file,
                Some(&format!("dunning.assign.{customer}")),
                format!("scenario `{scenario}` is not in this tenant's `scenarios` list"),
            ));
        }
    }
    if raw.max_attempts == 0 {
        errors.push(ConfigError::new(file, Some("dunning.max_attempts"), "at least 1 attempt is needed"));
    }
    if !(1..=90).contains(&raw.claimed_paid_hold_days) {
        errors.push(ConfigError::new(
            file,
            Some("dunning.claimed_paid_hold_days"),
            format!("{}: expected 1 to 90 days", raw.claimed_paid_hold_days),
        ));
    }
    out.claimed_paid_hold_days = raw.claimed_paid_hold_days.clamp(1, 90);
    match HolidayCountry::parse(&raw.country) {
        Some(c) => out.country = c,
        None => {
            let known: Vec<&str> = HolidayCountry::ALL.iter().map(|c| c.code()).collect();
            errors.push(ConfigError::new(
                file,
                Some("dunning.country"),
                format!("`{}`: no built-in holidays for this country (known: {})", raw.country, known.join(", ")),
            ));
        }
    }
    out.auto = raw.auto;
    out.extra_holidays = raw.extra_holidays;
    out.templates_dir = raw.templates_dir.map(|p| join_clean(base_dir, &p));
    out.assign = raw.assign;
    out.invoice_documents = raw.invoice_documents.map(|p| join_clean(base_dir, &p));
    out.sender_address = raw.sender_address;
    out.max_attempts = raw.max_attempts.max(1);
    out.late_interest = late_interest(file, raw.late_interest, errors);
    out
}

/// A percentage (`"2.15"`, `"10"`) in basis points, between 0 and 100 %.
fn percent_bp(text: &str) -> Result<i64, String> {
    let bp = relance_domain::money::parse_minor(text.trim(), 2, relance_domain::money::DecimalStyle::Dot)
        .map_err(|_| format!("`{text}` is not a percentage such as \"2.15\""))?;
    if !(0..=10_000).contains(&bp) {
        return Err(format!("`{text}`: a yearly rate between 0 and 100 %"));
    }
    Ok(bp)
}

fn late_interest(
    file: &Path,
    raw: LateInterestFile,
    errors: &mut Vec<ConfigError>,
) -> relance_engine::dunning::templates::LateInterest {
    let mut out = relance_engine::dunning::templates::LateInterest::default();
    let mut rate = |key: &str, text: &str| match percent_bp(text) {
        Ok(bp) => Some(bp),
        Err(e) => {
            errors.push(ConfigError::new(file, Some(&format!("dunning.late_interest.{key}")), e));
            None
        }
    };
    out.contractual_bp = raw.contractual_rate.as_deref().and_then(|t| rate("contractual_rate", t));
    if let Some(m) = raw.margin.as_deref().and_then(|t| rate("margin", t)) {
        out.margin_bp = m;
    }
    for (i, r) in raw.reference_rates.iter().enumerate() {
        if let Some(bp) = rate(&format!("reference_rates[{i}].rate"), &r.rate) {
            out.reference_bp.push((r.from, bp));
        }
    }
    out
}

fn validate_connector(file: &Path, name: &str, rc: RawConnector) -> Result<ConnectorConfig, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let key = |k: &str| format!("connectors.{name}.{k}");
    if !is_snake_identifier(name) {
        errors.push(ConfigError::new(
            file,
            Some(&format!("connectors.{name}")),
            "connector names are lower-case snake_case (a-z, 0-9, _)",
        ));
    }
    let schedule = match rc.schedule.as_deref().map(parse_schedule) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            errors.push(ConfigError::new(file, Some(&key("schedule")), e));
            None
        }
    };
    let mut retry = RetryPolicy::default();
    if let Some(r) = rc.retry {
        if let Some(a) = r.attempts {
            retry.attempts = a.max(1);
        }
        for (field, value, slot) in [("initial", r.initial, &mut retry.initial), ("max", r.max, &mut retry.max)] {
            if let Some(v) = value {
                match parse_duration(&v) {
                    Ok(d) => *slot = d,
                    Err(e) => errors.push(ConfigError::new(file, Some(&key(&format!("retry.{field}"))), e)),
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ConnectorConfig {
        name: name.to_string(),
        kind: rc.kind,
        enabled: rc.enabled.unwrap_or(true),
        schedule,
        retry,
        settings: rc.settings,
    })
}

/// `watch`, `watch 5m` (with a safety poll every 5 minutes), `every 10m` or `10m`.
pub fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("watch") {
        let rest = rest.trim();
        let poll = if rest.is_empty() { Duration::from_secs(60) } else { parse_duration(rest)? };
        return Ok(Schedule::Watch { poll });
    }
    let d = parse_duration(t.strip_prefix("every").unwrap_or(t).trim())
        .map_err(|e| format!("{e}; expected `watch` or an interval such as `every 5m`"))?;
    if d.is_zero() {
        return Err("the interval must be longer than zero".into());
    }
    Ok(Schedule::Interval(d))
}

/// Deserializes connector settings into a factory's typed struct, reporting
/// errors as `connectors.<name>.<key>` of the tenant file.
pub fn connector_settings<T: DeserializeOwned>(
    tenant: &TenantConfig,
    connector: &ConnectorConfig,
) -> Result<T, ConfigError> {
    let value = serde_json::Value::Object(connector.settings.clone());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let key = if inner == "." || inner.is_empty() {
            format!("connectors.{}", connector.name)
        } else {
            format!("connectors.{}.{}", connector.name, inner)
        };
        ConfigError::new(&tenant.file, Some(&key), e.inner().to_string())
    })
}

#[cfg(test)]
mod tests;
