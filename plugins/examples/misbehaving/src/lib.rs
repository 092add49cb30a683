//! A plugin that misbehaves on purpose, for the host's tests: with
//! `mode = "panic" | "garbage" | "hang" | "panic_in_create" | "ok"` its
//! `sync` panics, answers something that is not a page, never returns, or
//! works (one invoice).

use relance_plugin_sdk::{Connector, Manifest, PluginError, Role, Value, json};

pub struct Misbehaving {
    mode: String,
}

impl Connector for Misbehaving {
    fn manifest() -> Manifest {
        Manifest { name: "misbehaving", version: env!("CARGO_PKG_VERSION"), roles: &[Role::InvoiceSource] }
    }

    fn create(config: Value) -> Result<Self, PluginError> {
        let mode = config["mode"].as_str().unwrap_or("ok").to_string();
        if mode == "panic_in_create" {
            panic!("misbehaving plugin: panic in create");
        }
        Ok(Misbehaving { mode })
    }

    fn call(&self, _op: &str, _request: Value) -> Result<Value, PluginError> {
        match self.mode.as_str() {
            "panic" => panic!("misbehaving plugin: panic in sync"),
            "garbage" => Ok(json!("<<this is not a page>>")),
            "hang" => loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
            _ => Ok(json!({
                "records": [{ "invoice_number": "OK-1", "customer_id": "C1", "due_date": "2026-12-01", "amount_total": "10.00" }],
                "next_cursor": "done",
                "more": false
            })),
        }
    }
}

relance_plugin_sdk::export_connector!(Misbehaving);
