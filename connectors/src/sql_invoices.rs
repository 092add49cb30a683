//! Invoices from a PostgreSQL database (`kind = "sql_invoices"`): a query
//! written by the IT team returns the canonical invoice columns (use
//! aliases: `SELECT num AS invoice_number, …`), plus a change cursor column
//! (`updated_at` by default: a timestamp, a date or an increasing number).
//!
//! ```toml
//! [connectors.erp_db]
//! kind = "sql_invoices"
//! url = "postgres://relance@db.example.com/erp"
//! password = "env:ERP_DB_PASSWORD"
//! tls = "require"                 # or "disable"; ca_file for a private CA
//! query = "SELECT f.num AS invoice_number, c.code AS customer_id, … , f.updated_at FROM factures f JOIN clients c ON …"
//! cursor_column = "updated_at"
//! full_every = "24h"              # a full pass closes invoices deleted at the source
//! batch_size = 5000
//! pool_size = 2
//! ```
//!
//! Relance wraps the query: `SELECT <canonical columns>::text FROM (query) q
//! WHERE (q.cursor, q.invoice_number) > ($1, $2) ORDER BY q.cursor,
//! q.invoice_number LIMIT n` — keyset pages, so an index on the cursor makes
//! each page cheap and the sync resumes where it stopped. The first pass,
//! and one every `full_every`, reads everything and closes (never deletes)
//! invoices of this source the query no longer returns; other passes read
//! what changed since the last cursor. Rows are checked one by one
//! (`relance_connector::paging`): a bad row is quarantined with its reason and the
//! sync goes on. A lost connection is a transient error: the run is retried
//! with backoff, and nothing is closed by a pass that did not complete.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio_postgres::types::Type;

use relance_config::{
    ConfigError, ConnectorConfig, Schedule, TenantConfig, connector_settings, parse_duration, resolve_secret,
};
use relance_connector::paging::Pass;
use relance_connector::{AnyConnector, ConnectorError, ConnectorFactory, InvoiceSource, RunContext, RunReport};
use relance_domain::money::Currency;

/// The columns Relance reads, by their canonical names.
const CANONICAL: [&str; 14] = [
    "invoice_number",
    "customer_id",
    "customer_name",
    "customer_email",
    "customer_phone",
    "customer_address",
    "customer_language",
    "customer_segment",
    "issue_date",
    "due_date",
    "currency",
    "amount_total",
    "amount_open",
    "status",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum TlsMode {
    /// Plain TCP (a database on the same host or a private network).
    Disable,
    /// TLS, certificate checked.
    #[default]
    Require,
}

/// `sql_invoices`: invoices read from the ERP's PostgreSQL database by a query, incrementally on a
/// cursor column with periodic full passes.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// `postgres://user@host:port/database` (a password in the URL is accepted but `password` is better).
    url: String,
    /// Literal, `env:VAR` or `file:/path`.
    #[serde(default)]
    password: Option<String>,
    /// `require` (TLS, certificate checked) or `disable`.
    #[serde(default)]
    tls: TlsMode,
    /// PEM file of an extra certificate authority to trust.
    #[serde(default)]
    ca_file: Option<PathBuf>,
    /// SELECT returning the canonical invoice columns (`invoice_number`, `customer_id`, `due_date`,
    /// `amount_open`…) and the cursor column; see the README.
    query: String,
    /// Column that grows when a row changes: each run reads the rows past the last one seen.
    #[serde(default = "default_cursor")]
    cursor_column: String,
    /// Interval between full passes, which close the invoices no longer returned.
    #[serde(default = "default_full_every")]
    full_every: String,
    /// Rows read per page.
    #[serde(default = "default_batch")]
    batch_size: u32,
    /// Connections to the database.
    #[serde(default = "default_pool")]
    pool_size: usize,
    /// Longest wait for one query.
    #[serde(default = "default_timeout")]
    timeout: String,
    /// Largest accepted amount in major units; a record beyond it is quarantined.
    #[serde(default = "default_max_amount")]
    max_amount: u64,
    /// A full pass closing more than this share of the tenant's open invoices closes nothing.
    #[serde(default = "default_max_close_share")]
    max_close_share: f64,
}

fn default_max_close_share() -> f64 {
    f64::from(relance_connector::paging::DEFAULT_MAX_CLOSE_SHARE_BP) / 10_000.0
}

fn default_max_amount() -> u64 {
    relance_domain::money::DEFAULT_MAX_AMOUNT
}
fn default_cursor() -> String {
    "updated_at".into()
}
fn default_full_every() -> String {
    "24h".into()
}
fn default_batch() -> u32 {
    5000
}
fn default_pool() -> usize {
    2
}
fn default_timeout() -> String {
    "60s".into()
}

/// Factory for `kind = "sql_invoices"`.
pub struct SqlInvoicesFactory;

impl ConnectorFactory for SqlInvoicesFactory {
    fn kind(&self) -> &'static str {
        "sql_invoices"
    }

    fn settings_schema(&self) -> Option<serde_json::Value> {
        Some(relance_config::reference::schema_of::<Settings>())
    }

    fn default_schedule(&self) -> Schedule {
        Schedule::Interval(Duration::from_secs(60))
    }

    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
        let s: Settings = connector_settings(tenant, connector)?;
        let err =
            |k: &str, m: String| ConfigError::new(&tenant.file, Some(&format!("connectors.{}.{k}", connector.name)), m);
        let mut pg: tokio_postgres::Config = s.url.parse().map_err(|e| err("url", format!("`{}`: {e}", s.url)))?;
        if let Some(p) = &s.password {
            pg.password(resolve_secret(p, &tenant.base_dir).map_err(|e| err("password", e))?);
        }
        let timeout = parse_duration(&s.timeout).map_err(|e| err("timeout", e))?;
        pg.connect_timeout(timeout);
        let full_every = parse_duration(&s.full_every).map_err(|e| err("full_every", e))?;
        let max_amount = relance_domain::money::check_max_amount(s.max_amount).map_err(|e| err("max_amount", e))?;
        let max_close_share_bp =
            relance_connector::paging::close_share_bp(s.max_close_share).map_err(|e| err("max_close_share", e))?;
        let ident_ok = |c: &str| !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ident_ok(&s.cursor_column) {
            return Err(err("cursor_column", format!("`{}` is not a column name", s.cursor_column)));
        }
        if s.query.trim().is_empty() || s.query.contains(';') {
            return Err(err("query", "one SELECT statement, without `;`".into()));
        }
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match s.tls {
            TlsMode::Disable => Manager::from_config(pg, tokio_postgres::NoTls, manager_config),
            TlsMode::Require => {
                let ca = crate::tls::read_ca(&tenant.base_dir, s.ca_file.as_ref()).map_err(|e| err("ca_file", e))?;
                let config = crate::tls::client_config(ca.as_deref()).map_err(|e| err("ca_file", e))?;
                pg.ssl_mode(tokio_postgres::config::SslMode::Require);
                Manager::from_config(pg, tokio_postgres_rustls::MakeRustlsConnect::new(config), manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(s.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .build()
            .map_err(|e| err("url", e.to_string()))?;
        Ok(AnyConnector::InvoiceSource(Arc::new(SqlInvoices {
            name: connector.name.clone(),
            pool,
            query: s.query.trim().to_string(),
            cursor_column: s.cursor_column,
            full_every,
            batch_size: s.batch_size.clamp(100, 100_000),
            currency: tenant.currency,
            max_amount,
            max_close_share_bp,
        })))
    }
}

pub struct SqlInvoices {
    name: String,
    pool: Pool,
    query: String,
    cursor_column: String,
    full_every: Duration,
    batch_size: u32,
    currency: Currency,
    max_amount: u64,
    max_close_share_bp: u32,
}

fn transient(what: &str) -> impl Fn(tokio_postgres::Error) -> ConnectorError + '_ {
    move |e| {
        // A database error (bad SQL, missing column, refused login) will not fix itself.
        match e.as_db_error() {
            Some(db) => ConnectorError::Permanent(format!("{what}: {} ({})", db.message(), db.code().code())),
            None => ConnectorError::Transient(format!("{what}: {e}")),
        }
    }
}

impl SqlInvoices {
    /// The paged statement over the user's query, and the canonical columns it returns.
    async fn statement(
        &self,
        client: &deadpool_postgres::Object,
    ) -> Result<(String, Vec<&'static str>), ConnectorError> {
        let probe = client
            .prepare(&format!("SELECT * FROM ({}) AS q LIMIT 0", self.query))
            .await
            .map_err(transient("the query"))?;
        let cols: Vec<(&str, Type)> = probe.columns().iter().map(|c| (c.name(), c.type_().clone())).collect();
        let have = |n: &str| cols.iter().any(|(c, _)| *c == n);
        let missing: Vec<&str> = ["invoice_number", "customer_id", "due_date", "amount_total"]
            .into_iter()
            .chain([self.cursor_column.as_str()])
            .filter(|n| !have(n))
            .collect();
        if !missing.is_empty() {
            return Err(ConnectorError::Permanent(format!(
                "the query returns no column {} (it returns {})",
                missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
                cols.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
            )));
        }
        let cursor_type =
            cols.iter().find(|(c, _)| *c == self.cursor_column).map(|(_, t)| t.name().to_string()).unwrap_or_default();
        let present: Vec<&'static str> = CANONICAL.into_iter().filter(|c| have(c)).collect();
        let select: Vec<String> = present.iter().map(|c| format!("q.\"{c}\"::text")).collect();
        let cur = &self.cursor_column;
        let sql = format!(
            "SELECT {}, q.\"{cur}\"::text FROM ({}) AS q
             WHERE $1::text IS NULL OR (q.\"{cur}\", q.\"invoice_number\"::text) > ($1::text::{cursor_type}, $2::text)
             ORDER BY q.\"{cur}\", q.\"invoice_number\"::text LIMIT $3",
            select.join(", "),
            self.query
        );
        Ok((sql, present))
    }
}

/// Where a pass stands: the last (cursor, invoice number) read.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
struct Position {
    cursor: Option<String>,
    number: Option<String>,
}

#[async_trait]
impl InvoiceSource for SqlInvoices {
    async fn sync(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError> {
        let client = self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => transient("database")(e),
            other => ConnectorError::Transient(format!("database: {other}")),
        })?;
        let (sql, columns) = self.statement(&client).await?;
        let stmt = client.prepare(&sql).await.map_err(transient("the paged query"))?;
        let mut pass: Pass<Position> =
            Pass::begin(&ctx.store, &ctx.tenant, &self.name, self.full_every, self.currency)?
                .with_max_amount(self.max_amount)
                .with_max_close_share_bp(self.max_close_share_bp);
        for page_no in 1.. {
            if ctx.cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            let at = &pass.position;
            let rows = client
                .query(&stmt, &[&at.cursor, &at.number, &(self.batch_size as i64)])
                .await
                .map_err(transient("the paged query"))?;
            let mut records = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut obj = Map::with_capacity(columns.len());
                for (i, c) in columns.iter().enumerate() {
                    if let Some(v) = row.get::<_, Option<String>>(i) {
                        obj.insert((*c).to_string(), Value::String(v));
                    }
                }
                records.push(Value::Object(obj));
            }
            // Rows come in cursor order: the last one read is where the next page starts.
            let position = match rows.last() {
                Some(last) => Position {
                    cursor: last.get::<_, Option<String>>(columns.len()),
                    number: last.get::<_, Option<String>>(0),
                },
                None => pass.position.clone(),
            };
            pass.page(format!("{} page {page_no}", self.name), records, position).await?;
            if rows.len() < self.batch_size as usize {
                break;
            }
        }
        pass.finish().await
    }
}
