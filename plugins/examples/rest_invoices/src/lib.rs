//! Example plugin: an invoice source for a small REST/JSON ERP API.
//!
//! The API (as many small ERPs have it):
//!
//! ```text
//! GET {url}/invoices?updated_since=<RFC 3339>&page=<n>&per_page=<m>
//! Authorization: Bearer <token>
//! → {"data": [{"number", "customer": {"id", "name", "email"}, "issue_date", "due_date",
//!              "currency", "total", "balance", "status", "updated_at"}, …],
//!    "page": n, "total_pages": k}
//! ```
//!
//! The cursor handed to Relance is `{"since": …, "page": …, "max": …}` as
//! text: pages of one `updated_since` query are read in turn, and once the
//! last one is applied the next sync asks for what changed since the newest
//! `updated_at` seen. Configuration (tenant file):
//!
//! ```toml
//! [connectors.erp]
//! kind = "plugin:rest_invoices"
//! url = "https://erp.example.com/api"
//! token = "env:ERP_TOKEN"
//! per_page = 100
//! ```

#![forbid(unsafe_code)]

use relance_plugin_sdk::invoice_source::{SyncPage, SyncRequest};
use relance_plugin_sdk::{Connector, Manifest, PluginError, Role, Value, json};
use serde::{Deserialize, Serialize};

pub struct RestInvoices {
    url: String,
    token: Option<String>,
    per_page: u32,
    agent: ureq::Agent,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// `updated_since` of the query being paged.
    since: Option<String>,
    /// Next page of that query.
    page: u32,
    /// Newest `updated_at` seen so far in this query.
    max: Option<String>,
}

impl Connector for RestInvoices {
    fn manifest() -> Manifest {
        Manifest { name: "rest_invoices", version: env!("CARGO_PKG_VERSION"), roles: &[Role::InvoiceSource] }
    }

    fn create(config: Value) -> Result<Self, PluginError> {
        let url = config["url"].as_str().ok_or_else(|| PluginError::config("`url` is required"))?;
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(PluginError::config(format!("`url` must be http(s)://…, got `{url}`")));
        }
        let per_page = config["per_page"].as_u64().unwrap_or(100).clamp(1, 1000) as u32;
        let agent = ureq::AgentBuilder::new().timeout(std::time::Duration::from_secs(30)).build();
        Ok(RestInvoices {
            url: url.trim_end_matches('/').to_string(),
            token: config["token"].as_str().map(String::from),
            per_page,
            agent,
        })
    }

    fn call(&self, op: &str, request: Value) -> Result<Value, PluginError> {
        match op {
            "sync" => {
                let req: SyncRequest = serde_json::from_value(request)
                    .map_err(|e| PluginError::permanent(format!("bad sync request: {e}")))?;
                let page = self.sync(req.cursor.as_deref())?;
                serde_json::to_value(page).map_err(|e| PluginError::permanent(e.to_string()))
            }
            other => Err(PluginError::permanent(format!("unknown operation `{other}`"))),
        }
    }
}

impl RestInvoices {
    fn sync(&self, cursor: Option<&str>) -> Result<SyncPage, PluginError> {
        let mut c: Cursor = match cursor {
            Some(t) => {
                serde_json::from_str(t).map_err(|e| PluginError::permanent(format!("unreadable cursor: {e}")))?
            }
            None => Cursor::default(),
        };
        let page = c.page.max(1);
        let mut req = self
            .agent
            .get(&format!("{}/invoices", self.url))
            .query("page", &page.to_string())
            .query("per_page", &self.per_page.to_string());
        if let Some(since) = &c.since {
            req = req.query("updated_since", since);
        }
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let body: Value = match req.call() {
            Ok(r) => r.into_json().map_err(|e| PluginError::transient(format!("page {page}: unreadable JSON: {e}")))?,
            Err(ureq::Error::Status(code @ (401 | 403), _)) => {
                return Err(PluginError::config(format!("the API refused the token (HTTP {code})")));
            }
            Err(ureq::Error::Status(code, _)) if code >= 500 || code == 429 => {
                return Err(PluginError::transient(format!("page {page}: HTTP {code}")));
            }
            Err(ureq::Error::Status(code, _)) => {
                return Err(PluginError::permanent(format!("page {page}: HTTP {code}")));
            }
            Err(e) => return Err(PluginError::transient(format!("page {page}: {e}"))),
        };
        let data =
            body["data"].as_array().ok_or_else(|| PluginError::permanent(format!("page {page}: no `data` array")))?;
        let mut records = Vec::with_capacity(data.len());
        for inv in data {
            if let Some(u) = inv["updated_at"].as_str()
                && c.max.as_deref().is_none_or(|m| u > m)
            {
                c.max = Some(u.to_string());
            }
            records.push(json!({
                "invoice_number": inv["number"],
                "customer_id": inv["customer"]["id"],
                "customer_name": inv["customer"]["name"],
                "customer_email": inv["customer"]["email"],
                "issue_date": inv["issue_date"],
                "due_date": inv["due_date"],
                "currency": inv["currency"],
                "amount_total": inv["total"],
                "amount_open": inv["balance"],
                "status": inv["status"],
            }));
        }
        let total_pages = body["total_pages"].as_u64().unwrap_or(1) as u32;
        let more = page < total_pages;
        let next = if more {
            Cursor { since: c.since.clone(), page: page + 1, max: c.max.clone() }
        } else {
            Cursor { since: c.max.clone().or(c.since.clone()), page: 1, max: None }
        };
        Ok(SyncPage { records, next_cursor: Some(serde_json::to_string(&next).unwrap_or_default()), more })
    }
}

relance_plugin_sdk::export_connector!(RestInvoices);
