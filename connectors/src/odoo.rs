//! Odoo, through its external JSON-RPC API (`/jsonrpc`, services `common`
//! and `object`, `execute_kw`), authenticated with a user's API key.
//!
//! - `kind = "odoo"` (invoice source): customer invoices (`account.move`,
//!   `move_type = out_invoice`, posted or cancelled) with their residual
//!   amount and payment state, and their partners (`res.partner`: name,
//!   email, phone, language). Incremental by `write_date` with an `id`
//!   tie-break (keyset), pages of `page_size`; a full pass every
//!   `full_every` closes invoices Odoo no longer lists.
//! - `kind = "odoo_writeback"` (ERP write-back): each payment Relance applied
//!   is registered against its invoice with the `account.payment.register`
//!   wizard (in `journal_id`), its memo `relance:<allocation id>` — looked up
//!   first, so a notice delivered twice registers one payment. An undone
//!   allocation is posted as a note on the invoice: the accountant reverses
//!   the payment in Odoo.
//!
//! ```toml
//! [connectors.odoo]
//! kind = "odoo"
//! url = "https://acme.odoo.com"
//! database = "acme"
//! login = "relance@acme.fr"
//! api_key = "env:ODOO_API_KEY"
//! ```
//!
//! Errors: refused credentials are a permanent error saying so; network
//! errors and 5xx are transient (retried with backoff, and a pass that did
//! not complete closes nothing); an invoice Odoo returns in an unexpected
//! shape is quarantined on its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use relance_config::{
    ConfigError, ConnectorConfig, Schedule, TenantConfig, connector_settings, parse_duration, resolve_secret,
};
use relance_connector::paging::Pass;
use relance_connector::{
    AnyConnector, ConnectorError, ConnectorFactory, ErpWriteBack, InvoiceSource, RunContext, RunReport,
};
use relance_domain::AllocationNotice;
use relance_domain::money::Currency;

/// `odoo` and `odoo_writeback`: invoices read from Odoo (JSON-RPC), and payments registered back
/// in Odoo.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Base URL of the Odoo instance.
    url: String,
    /// Odoo database name.
    database: String,
    /// Odoo user login.
    login: String,
    /// The user's API key (literal, `env:VAR` or `file:/path`).
    api_key: String,
    /// Invoices read per request.
    #[serde(default = "default_page")]
    page_size: u32,
    /// Interval between full passes, which close the invoices no longer open.
    #[serde(default = "default_full_every")]
    full_every: String,
    /// Longest wait for one request.
    #[serde(default = "default_timeout")]
    timeout: String,
    /// Write-back: the bank journal payments are registered in (`account.journal` id).
    #[serde(default)]
    journal_id: Option<i64>,
    /// Write-back: the payment field holding the memo (`ref` up to Odoo 17, `memo` from 18).
    #[serde(default = "default_memo_field")]
    memo_field: String,
    /// Largest accepted amount in major units; an invoice beyond it is quarantined.
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

fn default_page() -> u32 {
    500
}
fn default_full_every() -> String {
    "24h".into()
}
fn default_timeout() -> String {
    "30s".into()
}
fn default_memo_field() -> String {
    "ref".into()
}

/// A JSON-RPC session with one Odoo database.
pub struct OdooClient {
    endpoint: reqwest::Url,
    database: String,
    login: String,
    api_key: String,
    http: reqwest::Client,
    uid: Mutex<Option<i64>>,
    next_id: AtomicU64,
}

impl OdooClient {
    fn build(tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<(OdooClient, Settings), ConfigError> {
        let s: Settings = connector_settings(tenant, connector)?;
        let err =
            |k: &str, m: String| ConfigError::new(&tenant.file, Some(&format!("connectors.{}.{k}", connector.name)), m);
        let base = reqwest::Url::parse(&s.url).map_err(|e| err("url", format!("`{}`: {e}", s.url)))?;
        let endpoint = base.join("/jsonrpc").map_err(|e| err("url", e.to_string()))?;
        let api_key = resolve_secret(&s.api_key, &tenant.base_dir).map_err(|e| err("api_key", e))?;
        let timeout = parse_duration(&s.timeout).map_err(|e| err("timeout", e))?;
        parse_duration(&s.full_every).map_err(|e| err("full_every", e))?;
        let http = crate::http::client(timeout).map_err(|e| err("url", e))?;
        let client = OdooClient {
            endpoint,
            database: s.database.clone(),
            login: s.login.clone(),
            api_key,
            http,
            uid: Mutex::new(None),
            next_id: AtomicU64::new(1),
        };
        Ok((client, s))
    }

    /// One JSON-RPC call; Odoo's own errors (`error.data.message`) are permanent.
    async fn rpc(&self, service: &str, method: &str, args: Value) -> Result<Value, ConnectorError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "jsonrpc": "2.0", "method": "call", "params": { "service": service, "method": method, "args": args }, "id": id });
        let text =
            crate::http::send(&format!("Odoo {}", self.endpoint), self.http.post(self.endpoint.clone()).json(&body))
                .await?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| ConnectorError::Transient(format!("Odoo answered something that is not JSON-RPC: {e}")))?;
        if let Some(e) = v.get("error") {
            let message = e["data"]["message"].as_str().or(e["message"].as_str()).unwrap_or("unknown error");
            return Err(ConnectorError::Permanent(format!("Odoo {service}.{method}: {message}")));
        }
        Ok(v["result"].clone())
    }

    /// The user id, authenticating once per session.
    async fn uid(&self) -> Result<i64, ConnectorError> {
        let mut slot = self.uid.lock().await;
        if let Some(u) = *slot {
            return Ok(u);
        }
        let r = self.rpc("common", "authenticate", json!([self.database, self.login, self.api_key, {}])).await?;
        let uid = r.as_i64().ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "Odoo refused the credentials of `{}` on database `{}` (check login and API key)",
                self.login, self.database
            ))
        })?;
        *slot = Some(uid);
        Ok(uid)
    }

    /// `execute_kw(model, method, args, kwargs)`.
    async fn execute(&self, model: &str, method: &str, args: Value, kwargs: Value) -> Result<Value, ConnectorError> {
        let uid = self.uid().await?;
        self.rpc("object", "execute_kw", json!([self.database, uid, self.api_key, model, method, args, kwargs])).await
    }
}

/// Factory for `kind = "odoo"`.
pub struct OdooFactory;

impl ConnectorFactory for OdooFactory {
    fn kind(&self) -> &'static str {
        "odoo"
    }

    fn settings_schema(&self) -> Option<serde_json::Value> {
        Some(relance_config::reference::schema_of::<Settings>())
    }
    fn default_schedule(&self) -> Schedule {
        Schedule::Interval(Duration::from_secs(300))
    }
    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
        let (client, s) = OdooClient::build(tenant, connector)?;
        let max_amount = relance_domain::money::check_max_amount(s.max_amount).map_err(|e| {
            ConfigError::new(&tenant.file, Some(&format!("connectors.{}.max_amount", connector.name)), e)
        })?;
        let max_close_share_bp = relance_connector::paging::close_share_bp(s.max_close_share).map_err(|e| {
            ConfigError::new(&tenant.file, Some(&format!("connectors.{}.max_close_share", connector.name)), e)
        })?;
        Ok(AnyConnector::InvoiceSource(Arc::new(OdooInvoices {
            name: connector.name.clone(),
            client,
            page_size: s.page_size.clamp(10, 5000),
            full_every: parse_duration(&s.full_every).unwrap_or(Duration::from_secs(86_400)),
            currency: tenant.currency,
            max_amount,
            max_close_share_bp,
        })))
    }
}

/// Factory for `kind = "odoo_writeback"`.
pub struct OdooWriteBackFactory;

impl ConnectorFactory for OdooWriteBackFactory {
    fn kind(&self) -> &'static str {
        "odoo_writeback"
    }

    fn settings_schema(&self) -> Option<serde_json::Value> {
        Some(relance_config::reference::schema_of::<Settings>())
    }
    fn default_schedule(&self) -> Schedule {
        Schedule::Interval(Duration::from_secs(30))
    }
    fn build(&self, tenant: &TenantConfig, connector: &ConnectorConfig) -> Result<AnyConnector, ConfigError> {
        let (client, s) = OdooClient::build(tenant, connector)?;
        let Some(journal_id) = s.journal_id else {
            return Err(ConfigError::new(
                &tenant.file,
                Some(&format!("connectors.{}.journal_id", connector.name)),
                "the bank journal (account.journal id) payments are registered in is required",
            ));
        };
        Ok(AnyConnector::ErpWriteBack(Arc::new(OdooWriteBack { client, journal_id, memo_field: s.memo_field })))
    }
}

pub struct OdooInvoices {
    name: String,
    client: OdooClient,
    page_size: u32,
    full_every: Duration,
    currency: Currency,
    max_amount: u64,
    max_close_share_bp: u32,
}

const INVOICE_FIELDS: [&str; 11] = [
    "id",
    "name",
    "partner_id",
    "invoice_date",
    "invoice_date_due",
    "currency_id",
    "amount_total",
    "amount_residual",
    "payment_state",
    "state",
    "write_date",
];

/// An Odoo invoice as a canonical record (`partners` by id).
fn record(inv: &Value, partners: &std::collections::HashMap<i64, Value>) -> Value {
    let partner_id = inv["partner_id"][0].as_i64();
    let partner = partner_id.and_then(|id| partners.get(&id)).cloned().unwrap_or(Value::Null);
    let text =
        |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(|s| Value::String(s.to_string())).unwrap_or(Value::Null);
    let status = match (inv["state"].as_str(), inv["payment_state"].as_str()) {
        (Some("cancel"), _) => "cancelled",
        (_, Some("paid" | "in_payment")) => "paid",
        (_, Some("partial")) => "partially_paid",
        (_, Some("reversed")) => "cancelled",
        _ => "open",
    };
    let due = match text(&inv["invoice_date_due"]) {
        Value::Null => text(&inv["invoice_date"]),
        d => d,
    };
    let lang =
        partner["lang"].as_str().and_then(|l| l.get(..2)).map(|l| Value::String(l.to_string())).unwrap_or(Value::Null);
    json!({
        "invoice_number": text(&inv["name"]),
        "customer_id": partner_id.map(|p| p.to_string()),
        "customer_name": inv["partner_id"][1],
        "customer_email": text(&partner["email"]),
        "customer_phone": text(&partner["phone"]),
        "customer_language": lang,
        "issue_date": text(&inv["invoice_date"]),
        "due_date": due,
        "currency": inv["currency_id"][1],
        "amount_total": inv["amount_total"],
        "amount_open": inv["amount_residual"],
        "status": status,
    })
}

/// Where the incremental pass stands.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
struct Position {
    write_date: Option<String>,
    id: i64,
}

#[async_trait]
impl InvoiceSource for OdooInvoices {
    async fn sync(&self, ctx: &RunContext) -> Result<RunReport, ConnectorError> {
        // authenticate before anything is opened, so refused credentials fail cleanly
        self.client.uid().await?;
        let mut pass: Pass<Position> =
            Pass::begin(&ctx.store, &ctx.tenant, &self.name, self.full_every, self.currency)?
                .with_max_amount(self.max_amount)
                .with_max_close_share_bp(self.max_close_share_bp);
        for page_no in 1.. {
            if ctx.cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            let label = format!("{} page {page_no}", self.name);
            let mut domain =
                vec![json!(["move_type", "=", "out_invoice"]), json!(["state", "in", ["posted", "cancel"]])];
            if let Some(w) = &pass.position.write_date {
                // (write_date, id) > (w, id): keyset over Odoo's polish-notation domain
                domain.extend([
                    json!("|"),
                    json!(["write_date", ">", w]),
                    json!("&"),
                    json!(["write_date", "=", w]),
                    json!(["id", ">", pass.position.id]),
                ]);
            }
            let invoices = self
                .client
                .execute(
                    "account.move",
                    "search_read",
                    json!([domain]),
                    json!({ "fields": INVOICE_FIELDS, "order": "write_date asc, id asc", "limit": self.page_size }),
                )
                .await?;
            let Some(list) = invoices.as_array() else {
                pass.broken_page(&label, "search_read did not return a list", Some(invoices.to_string()))?;
                break;
            };
            let ids: std::collections::BTreeSet<i64> =
                list.iter().filter_map(|i| i["partner_id"][0].as_i64()).collect();
            let partners = if ids.is_empty() {
                Value::Array(Vec::new())
            } else {
                self.client
                    .execute(
                        "res.partner",
                        "read",
                        json!([ids]),
                        json!({ "fields": ["name", "email", "phone", "lang"] }),
                    )
                    .await?
            };
            let by_id: std::collections::HashMap<i64, Value> = partners
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| Some((p["id"].as_i64()?, p.clone())))
                .collect();
            let records: Vec<Value> = list.iter().map(|i| record(i, &by_id)).collect();
            let position = match list.last() {
                Some(last) => Position {
                    write_date: last["write_date"].as_str().map(String::from),
                    id: last["id"].as_i64().unwrap_or(0),
                },
                None => pass.position.clone(),
            };
            let n = list.len();
            pass.page(label, records, position).await?;
            if n < self.page_size as usize {
                break;
            }
        }
        pass.finish().await
    }
}

pub struct OdooWriteBack {
    client: OdooClient,
    journal_id: i64,
    memo_field: String,
}

#[async_trait]
impl ErpWriteBack for OdooWriteBack {
    async fn push(&self, n: &AllocationNotice) -> Result<(), ConnectorError> {
        // A credit note offset by a net payment (a negative allocation) is reconciled with
        // its invoices in Odoo, not paid: not done here (the `odoo` source reads no credit
        // notes, so only a credit note from another source can come this way).
        if n.amount.minor < 0 {
            return Err(ConnectorError::Permanent(format!(
                "credit note `{}` was offset by payment {} ({} {}): reconcile it with the payment's invoices in Odoo",
                n.invoice_number,
                n.payment_reference.as_deref().unwrap_or("(no reference)"),
                n.amount.to_decimal_string(),
                n.amount.currency.code()
            )));
        }
        let found = self
            .client
            .execute(
                "account.move",
                "search_read",
                json!([[["name", "=", n.invoice_number], ["move_type", "=", "out_invoice"]]]),
                json!({ "fields": ["id", "state"], "limit": 1 }),
            )
            .await?;
        let Some(invoice_id) = found[0]["id"].as_i64() else {
            return Err(ConnectorError::Permanent(format!("Odoo has no customer invoice `{}`", n.invoice_number)));
        };
        let memo = format!("relance:{}", n.allocation_id);
        if n.reversal {
            let body = format!(
                "Relance: the payment {} of {} {} applied to this invoice was undone; reverse the Odoo payment with memo {memo} if it was registered.",
                n.payment_reference.as_deref().unwrap_or("(no reference)"),
                n.amount.to_decimal_string(),
                n.amount.currency.code()
            );
            self.client.execute("account.move", "message_post", json!([[invoice_id]]), json!({ "body": body })).await?;
            return Ok(());
        }
        // Registered before (a notice delivered twice)? Then nothing to do.
        let existing = self
            .client
            .execute("account.payment", "search_count", json!([[[self.memo_field.as_str(), "=", memo]]]), json!({}))
            .await?;
        if existing.as_i64().unwrap_or(0) > 0 {
            return Ok(());
        }
        let context = json!({ "active_model": "account.move", "active_ids": [invoice_id] });
        let wizard = self
            .client
            .execute(
                "account.payment.register",
                "create",
                json!([{
                    // a decimal string, exact; Odoo's float fields convert it
                    "amount": n.amount.to_decimal_string(),
                    "payment_date": n.booking_date.to_string(),
                    "journal_id": self.journal_id,
                    "communication": memo,
                }]),
                json!({ "context": context }),
            )
            .await?;
        let wizard_id = wizard
            .as_i64()
            .ok_or_else(|| ConnectorError::Permanent(format!("Odoo did not create the payment wizard: {wizard}")))?;
        self.client
            .execute(
                "account.payment.register",
                "action_create_payments",
                json!([[wizard_id]]),
                json!({ "context": context }),
            )
            .await?;
        Ok(())
    }

    /// A delivered notice is a payment registered in Odoo: the allocation is reflected.
    fn registers_payments(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relance_domain::money::{Currency, Money};

    #[tokio::test]
    async fn a_credit_note_offset_is_refused_before_any_call_naming_what_to_do() {
        let client = OdooClient {
            // Nothing listens there: the refusal must come before any request.
            endpoint: reqwest::Url::parse("http://127.0.0.1:9/jsonrpc").unwrap(),
            database: "db".into(),
            login: "l".into(),
            api_key: "k".into(),
            http: reqwest::Client::new(),
            uid: Mutex::new(Some(1)),
            next_id: AtomicU64::new(1),
        };
        let wb = OdooWriteBack { client, journal_id: 1, memo_field: "memo".into() };
        let notice = AllocationNotice {
            tenant: relance_domain::TenantId::new("t").unwrap(),
            allocation_id: 7,
            invoice_number: "AV-1".into(),
            amount: Money::new(-20_000, Currency::EUR),
            payment_reference: Some("VIR 42".into()),
            booking_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            reversal: false,
        };
        match wb.push(&notice).await {
            Err(ConnectorError::Permanent(m)) => {
                assert!(m.contains("AV-1") && m.contains("VIR 42") && m.contains("reconcile"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
