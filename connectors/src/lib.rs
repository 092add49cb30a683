//! Built-in Relance connectors.
//!
//! Each module implements one or more connector roles of
//! `relance_connector` and exposes a factory; [`builtin_factories`] is
//! the static registry the binary starts from.

#![forbid(unsafe_code)]

pub mod bank_statements;
pub mod csv_invoices;
pub mod fec;
pub mod file_writeback;
pub mod files;
mod http;
pub mod http_sms;
pub mod imap_mailbox;
pub mod letters;
pub mod oauth;
pub mod odoo;
pub mod smtp;
pub mod sql_invoices;
mod tls;
pub mod webhook;

use std::sync::Arc;

use relance_connector::{ConnectorFactory, Registry};

/// Every built-in connector kind.
pub fn builtin_factories() -> Vec<Arc<dyn ConnectorFactory>> {
    vec![
        Arc::new(csv_invoices::CsvInvoicesFactory),
        Arc::new(fec::FecInvoicesFactory),
        Arc::new(bank_statements::BankStatementsFactory),
        Arc::new(file_writeback::FileWriteBackFactory),
        Arc::new(imap_mailbox::ImapMailboxFactory),
        Arc::new(smtp::SmtpFactory),
        Arc::new(http_sms::HttpSmsFactory),
        Arc::new(webhook::WebhookFactory),
        Arc::new(letters::LettersFactory),
        Arc::new(sql_invoices::SqlInvoicesFactory),
        Arc::new(odoo::OdooFactory),
        Arc::new(odoo::OdooWriteBackFactory),
    ]
}

/// The registry of built-in kinds.
pub fn builtin_registry() -> Registry {
    Registry::new(builtin_factories())
}
pub mod statements;

/// The settings schema of every built-in kind, in registration order, for
/// the configuration reference.
pub fn settings_schemas() -> Vec<(&'static str, serde_json::Value)> {
    builtin_factories().iter().filter_map(|f| f.settings_schema().map(|s| (f.kind(), s))).collect()
}

#[cfg(test)]
mod reference_tests {
    use super::*;

    #[test]
    fn every_builtin_kind_documents_every_setting() {
        let schemas = settings_schemas();
        assert_eq!(schemas.len(), builtin_factories().len(), "a built-in kind has no settings schema");
        for (kind, schema) in schemas {
            assert_eq!(relance_config::reference::undocumented(&schema), Vec::<String>::new(), "kind {kind}");
        }
    }
}
