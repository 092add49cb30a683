//! ERP write-back to files (`kind = "file_writeback"`): every applied or
//! undone allocation is appended as one JSON line to
//! `<path>/allocations-YYYY-MM-DD.jsonl` and flushed to disk before it is
//! marked delivered. A crash between the two can repeat a line on the next
//! run: each line carries `allocation_id` and `reversal`, so the importing
//! side can ignore repeats.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use relance_config::{ConfigError, ConnectorConfig, Schedule, TenantConfig, connector_settings, join_clean};
use relance_connector::{AnyConnector, ConnectorError, ConnectorFactory, ErpWriteBack};
use relance_domain::AllocationNotice;

/// `file_writeback`: each applied or undone allocation written as one JSON line for the ERP to import.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Folder the allocation notices are written to, one `allocations-YYYY-MM-DD.jsonl`
    /// file per day (relative to the tenant file; created when missing).
    path: PathBuf,
}

/// Factory for `kind = "file_writeback"`.
pub struct FileWriteBackFactory;

impl ConnectorFactory for FileWriteBackFactory {
    fn kind(&self) -> &'static str {
        "file_writeback"
    }

    fn settings_schema(&self) -> Option<serde_json::Value> {
        Some(relance_config::reference::schema_of::<Settings>())
    }

    fn default_schedule(&self) -> Schedule {
        Schedule::Interval(Duration::from_secs(10))
    }

    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
        let s: Settings = connector_settings(tenant, connector)?;
        Ok(AnyConnector::ErpWriteBack(Arc::new(FileWriteBack { path: join_clean(&tenant.base_dir, &s.path) })))
    }
}

pub struct FileWriteBack {
    path: PathBuf,
}

#[async_trait]
impl ErpWriteBack for FileWriteBack {
    async fn push(&self, n: &AllocationNotice) -> Result<(), ConnectorError> {
        let line = json!({
            "tenant": n.tenant,
            "allocation_id": n.allocation_id,
            "reversal": n.reversal,
            "invoice": n.invoice_number,
            "amount": n.amount.to_decimal_string(),
            "currency": n.amount.currency.code(),
            "payment_reference": n.payment_reference,
            "booking_date": n.booking_date,
        })
        .to_string();
        let file = self.path.join(format!("allocations-{}.jsonl", chrono::Utc::now().format("%Y-%m-%d")));
        let dir = self.path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&file)?;
            f.write_all(format!("{line}\n").as_bytes())?;
            f.sync_data()
        })
        .await
        .map_err(|e| ConnectorError::Transient(e.to_string()))?
        .map_err(|e| ConnectorError::Transient(format!("cannot write to {}: {e}", self.path.display())))
    }
}
