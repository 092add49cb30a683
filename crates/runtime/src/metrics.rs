//! Connector health and counters, rendered in the Prometheus text format.
//!
//! The runtime reports every run here; the API reads it for `/metrics` and for
//! connector status. Kept in memory: counters restart at zero with the process,
//! as Prometheus counters are expected to.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

use relance_connector::RunReport;
use relance_store::{CashRates, TenantCounts};

/// Status of one connector.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectorStatus {
    pub role: String,
    pub runs: u64,
    pub items: u64,
    pub quarantined: u64,
    pub errors: u64,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// All connector statuses, keyed by (tenant, connector).
#[derive(Debug, Default)]
pub struct Metrics {
    connectors: Mutex<BTreeMap<(String, String), ConnectorStatus>>,
}

impl Metrics {
    pub fn register(&self, tenant: &str, connector: &str, role: &str) {
        let mut m = self.connectors.lock().unwrap_or_else(|p| p.into_inner());
        m.entry((tenant.to_string(), connector.to_string())).or_default().role = role.to_string();
    }

    pub fn record_success(&self, tenant: &str, connector: &str, report: &RunReport) {
        let mut m = self.connectors.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry((tenant.to_string(), connector.to_string())).or_default();
        s.runs += 1;
        s.items += report.items;
        s.quarantined += report.quarantined;
        s.last_success = Some(Utc::now());
    }

    pub fn record_error(&self, tenant: &str, connector: &str, error: &str) {
        let mut m = self.connectors.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry((tenant.to_string(), connector.to_string())).or_default();
        s.errors += 1;
        s.last_error = Some(error.to_string());
        s.last_error_at = Some(Utc::now());
    }

    /// Adds records processed by a run that later failed or was cancelled.
    pub fn record_partial(&self, tenant: &str, connector: &str, report: &RunReport) {
        let mut m = self.connectors.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry((tenant.to_string(), connector.to_string())).or_default();
        s.items += report.items;
        s.quarantined += report.quarantined;
    }

    pub fn snapshot(&self) -> BTreeMap<(String, String), ConnectorStatus> {
        self.connectors.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Renders everything in the Prometheus text exposition format: the
    /// connectors' counters, and per tenant the stored counts and the cash
    /// application rates (as decided at the time; a rate with nothing to
    /// divide is left out).
    pub fn render(&self, tenants: &[(String, TenantCounts)], cash: &[(String, CashRates)]) -> String {
        let snap = self.snapshot();
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, rows: &mut dyn Iterator<Item = (String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        };
        let conn_labels = |t: &str, c: &str, s: &ConnectorStatus| {
            format!("tenant=\"{}\",connector=\"{}\",role=\"{}\"", escape(t), escape(c), escape(&s.role))
        };
        let counter = |f: fn(&ConnectorStatus) -> u64| {
            snap.iter().map(move |((t, c), s)| (conn_labels(t, c, s), f(s).to_string())).collect::<Vec<_>>()
        };
        family(
            "relance_connector_runs_total",
            "counter",
            "Successful connector runs.",
            &mut counter(|s| s.runs).into_iter(),
        );
        family(
            "relance_connector_items_total",
            "counter",
            "Records processed by the connector.",
            &mut counter(|s| s.items).into_iter(),
        );
        family(
            "relance_connector_quarantined_total",
            "counter",
            "Records or inputs the connector quarantined.",
            &mut counter(|s| s.quarantined).into_iter(),
        );
        family(
            "relance_connector_errors_total",
            "counter",
            "Failed connector run attempts.",
            &mut counter(|s| s.errors).into_iter(),
        );
        family(
            "relance_connector_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful run (0 if none).",
            &mut snap
                .iter()
                .map(|((t, c), s)| (conn_labels(t, c, s), s.last_success.map_or(0, |d| d.timestamp()).to_string())),
        );
        family(
            "relance_invoices",
            "gauge",
            "Invoices stored, by status.",
            &mut tenants.iter().flat_map(|(t, counts)| {
                counts
                    .invoices_by_status
                    .iter()
                    .map(move |(st, n)| (format!("tenant=\"{}\",status=\"{}\"", escape(t), escape(st)), n.to_string()))
            }),
        );
        family(
            "relance_quarantine_items",
            "gauge",
            "Items in quarantine.",
            &mut tenants
                .iter()
                .map(|(t, counts)| (format!("tenant=\"{}\"", escape(t)), counts.quarantined.to_string())),
        );
        family(
            "relance_cash_credits",
            "gauge",
            "Bank credits stored (not bank reversals).",
            &mut cash.iter().map(|(t, r)| (format!("tenant=\"{}\"", escape(t)), r.credits.to_string())),
        );
        let rates: [(&str, &str, RateOf); 4] = [
            (
                "relance_cash_envelope_auto_match_ratio",
                "Credits matched automatically / credits.",
                CashRates::envelope_auto_rate,
            ),
            (
                "relance_cash_line_item_auto_ratio",
                "Invoices settled by live automatic allocations / invoices settled by any live allocation.",
                CashRates::line_item_rate,
            ),
            (
                "relance_cash_review_ratio",
                "Credits the matcher sent to review (suggested or unmatched) / credits.",
                CashRates::review_rate,
            ),
            (
                "relance_cash_false_match_ratio",
                "Automatic matches later undone by a person / automatic matches.",
                CashRates::false_match_rate,
            ),
        ];
        for (name, help, rate) in rates {
            family(
                name,
                "gauge",
                help,
                &mut cash
                    .iter()
                    .filter_map(|(t, r)| rate(r).map(|v| (format!("tenant=\"{}\"", escape(t)), format!("{v:.6}")))),
            );
        }
        out
    }
}

/// One of the cash application rates of [`CashRates`].
type RateOf = fn(&CashRates) -> Option<f64>;

/// Escapes a Prometheus label value.
pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_per_tenant_and_connector() {
        let m = Metrics::default();
        m.register("demo", "erp", "invoice_source");
        m.record_success("demo", "erp", &RunReport { items: 40, quarantined: 2, units: 1 });
        m.record_error("demo", "erp", "boom");
        let counts = TenantCounts { invoices_by_status: vec![("open".into(), 38)], quarantined: 2 };
        let cash = CashRates {
            credits: 10,
            auto_matched: 6,
            reviewed: 4,
            invoices_settled: 8,
            invoices_settled_auto: 6,
            auto_undone: 1,
        };
        let text =
            m.render(&[("demo".into(), counts)], &[("demo".into(), cash), ("empty".into(), CashRates::default())]);
        assert!(
            text.contains(
                "relance_connector_items_total{tenant=\"demo\",connector=\"erp\",role=\"invoice_source\"} 40"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "relance_connector_errors_total{tenant=\"demo\",connector=\"erp\",role=\"invoice_source\"} 1"
            )
        );
        assert!(text.contains("relance_invoices{tenant=\"demo\",status=\"open\"} 38"));
        assert!(text.contains("# TYPE relance_connector_last_success_timestamp_seconds gauge"));
        assert!(text.contains("relance_cash_credits{tenant=\"demo\"} 10"), "{text}");
        assert!(text.contains("relance_cash_envelope_auto_match_ratio{tenant=\"demo\"} 0.600000"), "{text}");
        assert!(text.contains("relance_cash_line_item_auto_ratio{tenant=\"demo\"} 0.750000"), "{text}");
        assert!(text.contains("relance_cash_review_ratio{tenant=\"demo\"} 0.400000"), "{text}");
        assert!(text.contains("relance_cash_false_match_ratio{tenant=\"demo\"} 0.166667"), "{text}");
        assert!(text.contains("# HELP relance_cash_false_match_ratio Automatic matches later undone"), "{text}");
        // A tenant without credits has no rate (nothing to divide), only its count.
        assert!(text.contains("relance_cash_credits{tenant=\"empty\"} 0"), "{text}");
        assert!(!text.contains("relance_cash_review_ratio{tenant=\"empty\"}"), "{text}");
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
