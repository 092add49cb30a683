//! A test plugin for the host. With `mode = "panic" | "garbage" | "hang" |
//! "panic_in_create"` it misbehaves on purpose (its calls panic, answer
//! something that is not what the operation returns, or never return);
//! with `mode = "ok"` (the default) it works: `sync` gives one invoice, and
//! as an outbound channel (`send`) or ERP write-back (`push`) it appends each
//! request as one JSON line to the file `log`. With `mode = "exclusive"` it
//! works like `ok` but takes 30 ms per `send` and fails the call if another
//! call is in progress at the same time (the ABI promises calls on one
//! instance are never concurrent).

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use relance_plugin_sdk::{Connector, Manifest, PluginError, Role, Value, json};

/// Calls in progress (mode `exclusive`).
static IN_FLIGHT: AtomicU32 = AtomicU32::new(0);

pub struct Misbehaving {
    mode: String,
    log: Option<String>,
}

impl Misbehaving {
    fn append(&self, request: &Value) -> Result<(), PluginError> {
        use std::io::Write;
        let path = self.log.as_ref().ok_or_else(|| PluginError::config("`log` is required for send and push"))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| PluginError::transient(format!("{path}: {e}")))?;
        writeln!(f, "{request}").map_err(|e| PluginError::transient(format!("{path}: {e}")))
    }
}

impl Connector for Misbehaving {
    fn manifest() -> Manifest {
        Manifest {
            name: "misbehaving",
            version: env!("CARGO_PKG_VERSION"),
            roles: &[Role::InvoiceSource, Role::OutboundChannel, Role::ErpWriteBack],
        }
    }

    fn create(config: Value) -> Result<Self, PluginError> {
        let mode = config["mode"].as_str().unwrap_or("ok").to_string();
        if mode == "panic_in_create" {
            panic!("misbehaving plugin: panic in create");
        }
        Ok(Misbehaving { mode, log: config["log"].as_str().map(String::from) })
    }

    fn call(&self, op: &str, request: Value) -> Result<Value, PluginError> {
        match self.mode.as_str() {
            "panic" => panic!("misbehaving plugin: panic in sync"),
            "garbage" => Ok(json!("<<this is not a page>>")),
            "hang" => loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
            "exclusive" if op == "send" => {
                let others = IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(30));
                IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                if others > 0 {
                    return Err(PluginError::permanent("called concurrently, against the ABI"));
                }
                self.append(&request)?;
                Ok(json!({ "reference": format!("plugin:{}", request["id"].as_str().unwrap_or_default()) }))
            }
            _ => match op {
                "send" => {
                    self.append(&request)?;
                    Ok(json!({ "reference": format!("plugin:{}", request["id"].as_str().unwrap_or_default()) }))
                }
                "push" => {
                    self.append(&request)?;
                    Ok(json!({}))
                }
                _ => Ok(json!({
                    "records": [{ "invoice_number": "OK-1", "customer_id": "C1", "due_date": "2026-12-01", "amount_total": "10.00" }],
                    "next_cursor": "done",
                    "more": false
                })),
            },
        }
    }
}

relance_plugin_sdk::export_connector!(Misbehaving);
