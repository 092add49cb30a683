//! Connector roles and how connectors are built from configuration.
//!
//! One trait per role, async and object-safe:
//! - pull roles, run by the runtime on their schedule: [`InvoiceSource`],
//!   [`StatementSource`], [`InboundMailbox`];
//! - push roles, called by engines: [`OutboundChannel`], [`ErpWriteBack`].
//!
//! A [`ConnectorFactory`] turns a tenant's `[connectors.<name>]` table into a
//! [`AnyConnector`]. Built-in factories form a static registry (see the binary);
//! plugin factories are added next to them. Building validates settings and
//! does no I/O beyond checking paths, so `relance check-config` can build every
//! connector without starting anything.

#![forbid(unsafe_code)]
pub mod guard;
pub mod paging;
pub mod signing;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use relance_config::{ConfigError, ConnectorConfig, Schedule, TenantConfig};
use relance_domain::{AllocationNotice, Channel, TenantId};
use relance_store::Store;

/// What a pull connector gets for one run.
#[derive(Clone)]
pub struct RunContext {
    pub tenant: TenantId,
    pub connector: String,
    pub store: Store,
    /// Where raw inputs and quarantined files are kept (`<data_dir>/<tenant>/<connector>`).
    pub keep_dir: PathBuf,
    /// Set on shutdown: finish the item in hand, then return [`ConnectorError::Cancelled`].
    pub cancel: CancellationToken,
    /// `relance run --once`: process what is there now, without waiting for files to settle.
    pub once: bool,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Records applied (created, updated or unchanged).
    pub items: u64,
    /// Records or units quarantined.
    pub quarantined: u64,
    /// Units of input handled (files, pages, messages).
    pub units: u64,
}

impl RunReport {
    pub fn add(&mut self, other: &RunReport) {
        self.items += other.items;
        self.quarantined += other.quarantined;
        self.units += other.units;
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// Worth retrying (network, locked file, busy database).
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help until something changes (configuration, credentials).
    #[error("{0}")]
    Permanent(String),
    /// Shutdown was requested; work done so far is committed.
    #[error("cancelled")]
    Cancelled,
}

/// Store failures that can clear by themselves are retried, the others are
/// not (see [`relance_store::StoreError::is_transient`]).
impl From<relance_store::StoreError> for ConnectorError {
    fn from(e: relance_store::StoreError) -> Self {
        let transient = e.is_transient();
        if transient { ConnectorError::Transient(e.to_string()) } else { ConnectorError::Permanent(e.to_string()) }
    }
}

/// Pulls invoices and customers from an accounting system or ERP.
#[async_trait]
pub trait InvoiceSource: Send + Sync {
    async fn sync(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError>;
    /// Paths to watch for a `watch` schedule (empty for network sources).
    fn watch_paths(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

/// Pulls bank statements.
#[async_trait]
pub trait StatementSource: Send + Sync {
    async fn fetch(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError>;
    fn watch_paths(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

/// Reads a collections mailbox.
#[async_trait]
pub trait InboundMailbox: Send + Sync {
    async fn poll(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError>;
}

/// A message to deliver to a customer, built by `relance_runtime::reminders::deliver` from an
/// outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub tenant: TenantId,
    /// The tenant's display name (sender of letters, SMS signature).
    pub tenant_name: String,
    pub customer_id: String,
    pub customer_name: String,
    pub channel: Channel,
    /// Stable key of the action: a channel must not deliver the same key twice when it can tell.
    pub idempotency_key: String,
    /// Deterministic token of the action: the local part of the email
    /// Message-ID, the webhook event id, the letter's file name.
    pub token: String,
    /// The scenario step (`courteous`, `formal_notice`, `invoice_copy`, …).
    pub step: String,
    pub invoices: Vec<String>,
    pub language: relance_domain::Language,
    /// Email addresses or phone numbers, by channel; empty for letters, webhooks and call tasks.
    pub recipients: Vec<String>,
    /// The customer's postal address (letters), lines separated by `\n`.
    pub postal_address: Option<String>,
    /// The sender block of letters (from the tenant's `[dunning]`).
    pub sender_address: Vec<String>,
    pub subject: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// When the message leaves (the Date header; injected for simulations).
    pub date: chrono::DateTime<chrono::Utc>,
    /// The day the reminder was planned for.
    pub planned_for: chrono::NaiveDate,
    /// The Message-ID of the customer's message this one answers (e-mail:
    /// `In-Reply-To` and `References`, so it is threaded to their reply).
    pub in_reply_to: Option<String>,
    /// The reminder's reply token (`r<id>-<mac>`, see
    /// `relance_engine::replies::token`): e-mail puts it in the plus address
    /// of `Reply-To` and of the VERP envelope sender when configured.
    pub reply_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Proof of delivery from a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// Message-ID (email) or provider id (SMS, webhook).
    pub reference: String,
}

/// Sends reminders and other messages.
#[async_trait]
pub trait OutboundChannel: Send + Sync {
    /// The channel this connector delivers.
    fn channel(&self) -> Channel;
    /// Whether it delivers messages of `channel` (a webhook connector may
    /// also push call tasks to a CRM).
    fn serves(&self, channel: Channel) -> bool {
        self.channel() == channel
    }
    /// Delivers one message. [`ConnectorError::Transient`] is retried with
    /// backoff; [`ConnectorError::Permanent`] quarantines the message.
    async fn send(&self, message: &OutboundMessage) -> Result<SendReceipt, ConnectorError>;
    /// After a crash mid-send: whether `message` (by its token) already
    /// reached its destination. `Some(receipt)` when it did, `None` when it
    /// did not or when the channel cannot tell (it is then sent again under
    /// the same id, which the receiving side can recognise).
    async fn find_delivered(&self, _message: &OutboundMessage) -> Result<Option<SendReceipt>, ConnectorError> {
        Ok(None)
    }
    /// The document this channel would deliver for `message` when it is not
    /// the message's text itself (a letter's PDF), for a person to check
    /// before approving; `None` when the text is what is delivered.
    fn preview(&self, _message: &OutboundMessage) -> Option<Document> {
        None
    }
}

/// A rendered document (a letter's PDF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Writes results back into the ERP.
#[async_trait]
pub trait ErpWriteBack: Send + Sync {
    async fn push(&self, notice: &AllocationNotice) -> Result<(), ConnectorError>;
    /// Whether a successful `push` means the ERP now holds the payment (it
    /// registered it, as Odoo's connector does), rather than that a notice
    /// was handed over for the ERP to process later (a file). When true, a
    /// delivered notice counts as the ERP reflecting the allocation
    /// ("paid stays paid", see `store::reflection`).
    fn registers_payments(&self) -> bool {
        false
    }
}

/// A built connector, by role (`AnyConnector`, not `Connector`, so that it is
/// not confused with the trait plugin authors implement in `plugins/sdk`).
#[derive(Clone)]
pub enum AnyConnector {
    InvoiceSource(Arc<dyn InvoiceSource>),
    StatementSource(Arc<dyn StatementSource>),
    InboundMailbox(Arc<dyn InboundMailbox>),
    OutboundChannel(Arc<dyn OutboundChannel>),
    ErpWriteBack(Arc<dyn ErpWriteBack>),
}

impl AnyConnector {
    pub fn role(&self) -> &'static str {
        match self {
            AnyConnector::InvoiceSource(_) => "invoice_source",
            AnyConnector::StatementSource(_) => "statement_source",
            AnyConnector::InboundMailbox(_) => "inbound_mailbox",
            AnyConnector::OutboundChannel(_) => "outbound_channel",
            AnyConnector::ErpWriteBack(_) => "erp_write_back",
        }
    }

    /// Whether the runtime schedules this connector: pull roles, and ERP
    /// write-back (which delivers the store's write-back queue).
    pub fn is_scheduled(&self) -> bool {
        !matches!(self, AnyConnector::OutboundChannel(_))
    }

    /// Order within one `--once` pass: data in before notices out.
    pub fn run_order(&self) -> u8 {
        match self {
            AnyConnector::InvoiceSource(_) => 0,
            AnyConnector::StatementSource(_) => 1,
            AnyConnector::InboundMailbox(_) => 2,
            AnyConnector::ErpWriteBack(_) => 3,
            AnyConnector::OutboundChannel(_) => 4,
        }
    }

    /// Runs one pass of a pull connector.
    pub async fn run(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError> {
        match self {
            AnyConnector::InvoiceSource(c) => c.sync(ctx).await,
            AnyConnector::StatementSource(c) => c.fetch(ctx).await,
            AnyConnector::InboundMailbox(c) => c.poll(ctx).await,
            AnyConnector::ErpWriteBack(c) => deliver_write_backs(c.as_ref(), ctx).await,
            AnyConnector::OutboundChannel(_) => Ok(RunReport::default()),
        }
    }

    pub fn watch_paths(&self) -> Vec<PathBuf> {
        match self {
            AnyConnector::InvoiceSource(c) => c.watch_paths(),
            AnyConnector::StatementSource(c) => c.watch_paths(),
            _ => Vec::new(),
        }
    }
}

/// Runs a connector's blocking work (files, parsing, the store) on the
/// blocking pool; a task that dies counts as transient.
pub async fn run_blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, ConnectorError> + Send + 'static,
) -> Result<T, ConnectorError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ConnectorError::Transient(format!("{what} task failed: {e}")))?
}

/// Delivers the tenant's pending write-back notices, oldest first; stops at
/// the first failure (retried with the run) so notices stay in order.
async fn deliver_write_backs(c: &dyn ErpWriteBack, ctx: &RunContext) -> Result<RunReport, ConnectorError> {
    let mut report = RunReport::default();
    loop {
        let (store, tenant) = (ctx.store.clone(), ctx.tenant.clone());
        let batch = tokio::task::spawn_blocking(move || store.pending_writebacks(&tenant, 200))
            .await
            .map_err(|e| ConnectorError::Transient(e.to_string()))??;
        if batch.is_empty() {
            return Ok(report);
        }
        for (id, notice) in batch {
            if ctx.cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            let result = c.push(&notice).await;
            let (store, tenant) = (ctx.store.clone(), ctx.tenant.clone());
            let err = result.as_ref().err().map(ToString::to_string);
            let registered = err.is_none() && c.registers_payments();
            tokio::task::spawn_blocking(move || {
                if registered {
                    store.mark_writeback_registered(&tenant, id)
                } else {
                    store.mark_writeback(&tenant, id, err.as_deref().map_or(Ok(()), Err))
                }
            })
            .await
            .map_err(|e| ConnectorError::Transient(e.to_string()))??;
            result?;
            report.items += 1;
        }
    }
}

/// Builds connectors of one `kind`.
pub trait ConnectorFactory: Send + Sync {
    /// The `kind` value in tenant files.
    fn kind(&self) -> &'static str;
    /// Schedule used when the tenant file gives none.
    fn default_schedule(&self) -> Schedule;
    /// JSON schema of this kind's settings (the keys of
    /// `[connectors.<name>]` besides `kind`, `enabled`, `schedule` and
    /// `retry`), whose descriptions are the settings' doc comments: the
    /// configuration reference (`relance config-reference`, docs/config.md)
    /// is generated from it. `None` for a kind that documents nothing.
    fn settings_schema(&self) -> Option<serde_json::Value> {
        None
    }
    /// Validates settings and builds the connector.
    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<AnyConnector, ConfigError>;
}

/// The connector kinds known to this process.
#[derive(Clone, Default)]
pub struct Registry {
    factories: Vec<Arc<dyn ConnectorFactory>>,
}

impl Registry {
    pub fn new(factories: Vec<Arc<dyn ConnectorFactory>>) -> Registry {
        Registry { factories }
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn ConnectorFactory>> {
        self.factories.iter().find(|f| f.kind() == kind)
    }

    /// The factories, in registration order.
    pub fn factories(&self) -> &[Arc<dyn ConnectorFactory>] {
        &self.factories
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.factories.iter().map(|f| f.kind()).collect()
    }
}

/// A connector ready to run, with its schedule.
#[derive(Clone)]
pub struct BuiltConnector {
    pub tenant: TenantId,
    pub config: ConnectorConfig,
    pub schedule: Schedule,
    pub connector: AnyConnector,
}

/// Builds every enabled connector of every tenant, collecting all errors.
pub fn build_all(tenants: &[TenantConfig], registry: &Registry) -> Result<Vec<BuiltConnector>, Vec<ConfigError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for t in tenants {
        for c in t.connectors.iter().filter(|c| c.enabled) {
            let Some(factory) = registry.get(&c.kind) else {
                let message = match c.kind.strip_prefix("plugin:") {
                    Some(name) => format!(
                        "no plugin `{name}` is loaded (set `plugins_dir` in the global file and put the plugin's .so there; loaded: {})",
                        registry
                            .kinds()
                            .iter()
                            .filter(|k| k.starts_with("plugin:"))
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => format!("unknown connector kind `{}` (known: {})", c.kind, registry.kinds().join(", ")),
                };
                errors.push(ConfigError::new(&t.file, Some(&format!("connectors.{}.kind", c.name)), message));
                continue;
            };
            match factory.build(t, c) {
                Ok(connector) => out.push(BuiltConnector {
                    tenant: t.id.clone(),
                    schedule: c.schedule.unwrap_or_else(|| factory.default_schedule()),
                    config: c.clone(),
                    connector,
                }),
                Err(e) => errors.push(e),
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::ConnectorError;
    use relance_store::StoreError;

    fn classify(e: StoreError) -> &'static str {
        match ConnectorError::from(e) {
            ConnectorError::Transient(_) => "transient",
            ConnectorError::Permanent(_) => "permanent",
            ConnectorError::Cancelled => "cancelled",
        }
    }

    #[test]
    fn store_errors_are_retried_only_when_retrying_can_help() {
        let sqlite = |code| {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("x".into())))
        };
        assert_eq!(classify(StoreError::Rejected("amount too large".into())), "permanent");
        assert_eq!(classify(StoreError::Corrupt("bad date".into())), "permanent");
        assert_eq!(classify(sqlite(rusqlite::ffi::SQLITE_CONSTRAINT)), "permanent");
        assert_eq!(classify(sqlite(rusqlite::ffi::SQLITE_BUSY)), "transient");
        assert_eq!(classify(sqlite(rusqlite::ffi::SQLITE_LOCKED)), "transient");
        assert_eq!(classify(StoreError::ImportConflict { import: 1, expected: 2 }), "transient");
        assert_eq!(classify(StoreError::Task("panicked".into())), "transient");
    }
}
