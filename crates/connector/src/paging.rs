//! Invoice sync from network sources (SQL databases, ERP APIs, plugins):
//! records arrive as JSON objects with the canonical field names, page by
//! page, and are checked and applied here, the same way for every source.
//!
//! Canonical fields: `invoice_number`, `customer_id`, `customer_name`,
//! `customer_email` (one address, or several separated by `,`/`;`, or an
//! array), `customer_phone`, `customer_address`, `customer_language`,
//! `customer_segment`, `issue_date`, `due_date` (`YYYY-MM-DD`), `currency`
//! (ISO 4217), `amount_total`, `amount_open` (decimal strings, or JSON
//! numbers), `status` (`open`, `partially_paid`, `paid`, `cancelled`,
//! `disputed`, …).
//!
//! A credit note carries negative amounts (or positive ones with the status
//! `credit_note`) and is stored as an open item owed to the customer (never
//! reminded; the matcher uses it to explain net payments). A record without
//! a number, with an open amount outside its total and zero, an amount
//! beyond `max_amount` major units (default [`DEFAULT_MAX_AMOUNT`], so no stored
//! amount comes near the limits of `i64`), an unknown currency or an
//! impossible date is quarantined with the reason (the source, the page and
//! the record's position name it) and the others are applied: bad data never
//! stops a sync. An incremental pass never closes anything; a full pass
//! ([`PagedImport::full`]) closes, at its end, invoices the source no longer
//! lists — unless a record without a readable number was quarantined.

use chrono::NaiveDate;
use serde_json::Value;

use crate::{ConnectorError, RunReport};
use relance_domain::money::{Currency, DEFAULT_MAX_AMOUNT, DecimalStyle, Money};
use relance_domain::{CustomerRecord, InvoiceRecord, InvoiceStatus, Language, TenantId};
use relance_store::{ImportKey, ImportState, ImportStatus, InvoiceBatch, NewQuarantine, Store};

/// Reads one canonical record, with amounts of at most `max_amount` major
/// units; the error is the reason to quarantine it.
pub fn record_from_json(v: &Value, default_currency: Currency, max_amount: u64) -> Result<InvoiceRecord, String> {
    let obj = v.as_object().ok_or("a record must be a JSON object")?;
    let text = |k: &str| -> Option<String> {
        match obj.get(k)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let number = text("invoice_number").ok_or("no invoice number")?;
    let customer_id = text("customer_id").ok_or("no customer id")?;
    let currency = match text("currency") {
        Some(c) => Currency::parse(&c).map_err(|_| format!("unknown currency `{c}`"))?,
        None => default_currency,
    };
    let amount = |k: &str| -> Result<Option<Money>, String> {
        let Some(t) = text(k) else { return Ok(None) };
        let m = Money::parse(&t, currency, DecimalStyle::Dot).map_err(|e| format!("{k} `{t}`: {e}"))?;
        m.check_range(max_amount).map(Some).map_err(|e| format!("{k}: {e}"))
    };
    let mut status = match text("status") {
        Some(s) => Some(s.parse::<InvoiceStatus>().map_err(|_| format!("unknown status `{s}`"))?),
        None => None,
    };
    let mut total = amount("amount_total")?.ok_or("no amount_total")?;
    let mut open = amount("amount_open")?.unwrap_or(total);
    // A credit note: negative amounts, or positive ones with the status `credit_note`.
    if status == Some(InvoiceStatus::CreditNote) && total.minor > 0 && open.minor >= 0 {
        (total, open) = (Money::new(-total.minor, currency), Money::new(-open.minor, currency));
    }
    if total.minor < 0 {
        // Negative amounts are a credit note whatever "open" status the source gives it.
        if status.is_none_or(|s| s.is_outstanding()) {
            status = Some(InvoiceStatus::CreditNote);
        }
        // A credit note owes the customer between its total and nothing.
        if open.minor < total.minor || open.minor > 0 {
            return Err(format!(
                "credit note: amount_open {} is not between amount_total {} and 0",
                open.to_decimal_string(),
                total.to_decimal_string()
            ));
        }
    } else if open.minor < 0 {
        return Err(format!("negative amount_open `{}` of an invoice", open.to_decimal_string()));
    } else if open.minor > total.minor {
        return Err(format!(
            "amount_open {} is more than amount_total {}",
            open.to_decimal_string(),
            total.to_decimal_string()
        ));
    }
    let date = |k: &str| -> Result<Option<NaiveDate>, String> {
        let Some(t) = text(k) else { return Ok(None) };
        let day = t.get(..10).unwrap_or(&t);
        NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| format!("{k} `{t}` is not a date (YYYY-MM-DD)"))
    };
    let due_date = date("due_date")?.ok_or("no due_date")?;
    let issue_date = date("issue_date")?;
    if issue_date.is_some_and(|i| i > due_date) {
        return Err(format!("due date {due_date} is before the issue date"));
    }
    let emails: Vec<String> = match obj.get("customer_email") {
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str()).map(|s| s.trim().to_lowercase()).collect(),
        _ => text("customer_email")
            .map(|s| s.split([',', ';']).map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()).collect())
            .unwrap_or_default(),
    };
    if let Some(bad) = emails.iter().find(|e| !e.contains('@')) {
        return Err(format!("customer_email `{bad}` is not an address"));
    }
    Ok(InvoiceRecord {
        number,
        customer: CustomerRecord {
            name: text("customer_name").unwrap_or_else(|| customer_id.clone()),
            id: customer_id,
            emails,
            phones: text("customer_phone").into_iter().collect(),
            ibans: Vec::new(),
            segment: text("customer_segment"),
            language: text("customer_language").and_then(|l| l.parse::<Language>().ok()),
            address: text("customer_address"),
        },
        issue_date,
        due_date,
        total,
        open,
        status,
    })
}

/// One import in progress, fed page by page.
pub struct PagedImport {
    store: Store,
    state: ImportState,
    source: String,
    default_currency: Currency,
    max_amount: u64,
    max_close_share_bp: u32,
    pub report: RunReport,
}

/// Default `max_close_share` of full passes: 50 % of the tenant's open invoices.
pub const DEFAULT_MAX_CLOSE_SHARE_BP: u32 = 5_000;

/// The `max_close_share` setting (a share between 0 and 1) in exact basis points.
pub fn close_share_bp(share: f64) -> Result<u32, String> {
    if !(0.0..=1.0).contains(&share) {
        return Err("expected a share between 0 and 1 (0.5 = 50 %)".into());
    }
    // A ratio setting, converted once to exact basis points.
    Ok((share * 10_000.0).round() as u32)
}

impl PagedImport {
    /// An incremental pass (`unit` names it, e.g. the cursor it starts from
    /// and when): upserts what it is given, closes nothing.
    pub fn incremental(
        store: &Store,
        tenant: &TenantId,
        source: &str,
        unit: &str,
        default_currency: Currency,
    ) -> Result<PagedImport, ConnectorError> {
        PagedImport::begin(store, tenant, source, unit, false, default_currency)
    }

    /// A full pass: at [`PagedImport::finish`], invoices of this source that
    /// no page listed are closed.
    pub fn full(
        store: &Store,
        tenant: &TenantId,
        source: &str,
        unit: &str,
        default_currency: Currency,
    ) -> Result<PagedImport, ConnectorError> {
        PagedImport::begin(store, tenant, source, unit, true, default_currency)
    }

    fn begin(
        store: &Store,
        tenant: &TenantId,
        source: &str,
        unit: &str,
        full_export: bool,
        default_currency: Currency,
    ) -> Result<PagedImport, ConnectorError> {
        let state = store.begin_import(&ImportKey { tenant, source, unit, label: unit, full_export })?;
        if state.status != ImportStatus::Running {
            return Err(ConnectorError::Permanent(format!("import `{unit}` of {source} was already completed")));
        }
        Ok(PagedImport {
            store: store.clone(),
            state,
            source: source.to_string(),
            default_currency,
            max_amount: DEFAULT_MAX_AMOUNT,
            max_close_share_bp: DEFAULT_MAX_CLOSE_SHARE_BP,
            report: RunReport::default(),
        })
    }

    /// A full pass that would close more than `share_bp` (basis points) of
    /// the tenant's open invoices closes nothing (default
    /// [`DEFAULT_MAX_CLOSE_SHARE_BP`], 50 %).
    pub fn with_max_close_share_bp(mut self, share_bp: u32) -> PagedImport {
        self.max_close_share_bp = share_bp;
        self
    }

    /// Records with an amount beyond `max_amount` major units are quarantined
    /// (default [`DEFAULT_MAX_AMOUNT`]).
    pub fn with_max_amount(mut self, max_amount: u64) -> PagedImport {
        self.max_amount = max_amount;
        self
    }

    /// Checks and applies one page of records (`page` names it in quarantine entries).
    pub fn page(&mut self, page: &str, records: &[Value]) -> Result<(), ConnectorError> {
        let mut batch = InvoiceBatch { position_after: self.state.position + 1, ..Default::default() };
        for (i, v) in records.iter().enumerate() {
            match record_from_json(v, self.default_currency, self.max_amount) {
                Ok(r) => batch.records.push(r),
                Err(reason) => {
                    match v
                        .get("invoice_number")
                        .and_then(|n| n.as_str().map(String::from).or_else(|| n.as_i64().map(|x| x.to_string())))
                    {
                        Some(n) if !n.trim().is_empty() => batch.quarantined_numbers.push(n),
                        _ => batch.close_blocked = true,
                    }
                    batch.quarantined.push(NewQuarantine {
                        source: self.source.clone(),
                        item: format!("{page}, record {}", i + 1),
                        line: Some(i as u64 + 1),
                        column: None,
                        reason,
                        raw: Some(v.to_string()),
                        raw_path: None,
                    });
                }
            }
        }
        self.report.items += batch.records.len() as u64;
        self.report.quarantined += batch.quarantined.len() as u64;
        self.report.units += 1;
        self.store.apply_invoice_batch(&mut self.state, &batch)?;
        Ok(())
    }

    /// Records a page that could not be read at all (broken JSON, a failing
    /// query): quarantined whole; the pass goes on with the next one.
    pub fn broken_page(&mut self, page: &str, reason: &str, raw: Option<String>) -> Result<(), ConnectorError> {
        let batch = InvoiceBatch {
            position_after: self.state.position + 1,
            close_blocked: true,
            quarantined: vec![NewQuarantine {
                source: self.source.clone(),
                item: page.to_string(),
                line: None,
                column: None,
                reason: reason.to_string(),
                raw,
                raw_path: None,
            }],
            ..Default::default()
        };
        self.report.quarantined += 1;
        self.store.apply_invoice_batch(&mut self.state, &batch)?;
        Ok(())
    }

    /// Ends the pass (a full pass closes what it did not see, unless that
    /// is more than `max_close_share` of the tenant's open invoices: then it
    /// closes nothing and says why in the quarantine).
    pub fn finish(mut self) -> Result<RunReport, ConnectorError> {
        let label = self.source.clone();
        if self.state.full_export {
            let preview = self.store.pass_close_preview(&self.state)?;
            if preview.exceeds(self.max_close_share_bp) {
                let bp = self.max_close_share_bp;
                let reason = format!(
                    "full pass would close {} of the tenant's {} open invoices, more than max_close_share ({}.{:02} %): \
                     nothing closed (the records it listed were imported); if the source is right, raise max_close_share",
                    preview.would_close,
                    preview.tenant_open,
                    bp / 100,
                    bp % 100
                );
                tracing::warn!(source = %self.source, would_close = preview.would_close, tenant_open = preview.tenant_open, "full pass closes nothing");
                let batch = InvoiceBatch {
                    position_after: self.state.position + 1,
                    close_blocked: true,
                    quarantined: vec![NewQuarantine {
                        source: self.source.clone(),
                        item: format!("full pass {}", self.state.id),
                        reason,
                        ..Default::default()
                    }],
                    ..Default::default()
                };
                self.report.quarantined += 1;
                self.store.apply_invoice_batch(&mut self.state, &batch)?;
            }
        }
        self.store.finish_import(&mut self.state, &label)?;
        Ok(self.report)
    }
}

/// One pass of a keyset-paged source (SQL, Odoo): full when the source has
/// no saved position yet or `full_every` has passed since the last full pass,
/// incremental otherwise, starting after the saved position. An incremental
/// pass saves its position after each page; a full pass saves it, with its
/// time, once it has completed (so an interrupted full pass is done again).
pub struct Pass<P> {
    import: Option<PagedImport>,
    /// True for a full pass.
    pub full: bool,
    /// Where the pass stands (after the last page applied).
    pub position: P,
    store: Store,
    tenant: TenantId,
    source: String,
    started: chrono::DateTime<chrono::Utc>,
}

impl<P: serde::Serialize + serde::de::DeserializeOwned + Default + Send + 'static> Pass<P> {
    pub fn begin(
        store: &Store,
        tenant: &TenantId,
        source: &str,
        full_every: std::time::Duration,
        default_currency: Currency,
    ) -> Result<Pass<P>, ConnectorError> {
        let saved: Option<P> =
            store.connector_state(tenant, source, "position")?.and_then(|s| serde_json::from_str(&s).ok());
        let started = chrono::Utc::now();
        let last_full = store
            .connector_state(tenant, source, "last_full")?
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok());
        let full = saved.is_none()
            || last_full.is_none_or(|t| started.signed_duration_since(t).to_std().unwrap_or_default() >= full_every);
        let unit = format!("{}:{}", if full { "full" } else { "incremental" }, started.to_rfc3339());
        let import = if full {
            PagedImport::full(store, tenant, source, &unit, default_currency)?
        } else {
            PagedImport::incremental(store, tenant, source, &unit, default_currency)?
        };
        Ok(Pass {
            import: Some(import),
            full,
            position: if full { P::default() } else { saved.unwrap_or_default() },
            store: store.clone(),
            tenant: tenant.clone(),
            source: source.to_string(),
            started,
        })
    }

    /// Records with an amount beyond `max_amount` major units are quarantined
    /// (default [`DEFAULT_MAX_AMOUNT`]).
    /// See [`PagedImport::with_max_close_share_bp`].
    pub fn with_max_close_share_bp(mut self, share_bp: u32) -> Pass<P> {
        self.import = self.import.take().map(|i| i.with_max_close_share_bp(share_bp));
        self
    }

    pub fn with_max_amount(mut self, max_amount: u64) -> Pass<P> {
        self.import = self.import.take().map(|i| i.with_max_amount(max_amount));
        self
    }

    fn save_position(&self) -> Result<(), ConnectorError> {
        let text = serde_json::to_string(&self.position).map_err(|e| ConnectorError::Permanent(e.to_string()))?;
        self.store.set_connector_state(&self.tenant, &self.source, "position", &text)?;
        Ok(())
    }

    /// Checks and applies one page (on the blocking pool); `position` is where it ends.
    pub async fn page(&mut self, label: String, records: Vec<Value>, position: P) -> Result<(), ConnectorError> {
        let mut import = self.import.take().ok_or_else(|| ConnectorError::Permanent("pass already finished".into()))?;
        let (import, result) = crate::run_blocking("import", move || {
            let r = import.page(&label, &records);
            Ok((import, r))
        })
        .await?;
        self.import = Some(import);
        result?;
        self.position = position;
        if !self.full {
            self.save_position()?;
        }
        Ok(())
    }

    /// Records a page that could not be read (quarantined whole).
    pub fn broken_page(&mut self, label: &str, reason: &str, raw: Option<String>) -> Result<(), ConnectorError> {
        match self.import.as_mut() {
            Some(i) => i.broken_page(label, reason, raw),
            None => Err(ConnectorError::Permanent("pass already finished".into())),
        }
    }

    /// Completes the pass (a full one closes what it did not see).
    pub async fn finish(mut self) -> Result<RunReport, ConnectorError> {
        let import = self.import.take().ok_or_else(|| ConnectorError::Permanent("pass already finished".into()))?;
        let report = crate::run_blocking("import", move || import.finish()).await?;
        if self.full {
            self.save_position()?;
            self.store.set_connector_state(&self.tenant, &self.source, "last_full", &self.started.to_rfc3339())?;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Result<InvoiceRecord, String> {
        record_from_json(&v, Currency::EUR, DEFAULT_MAX_AMOUNT)
    }

    #[test]
    fn canonical_records_and_their_faults() {
        let ok = rec(json!({"invoice_number": "INV/2026/0001", "customer_id": 7, "customer_email": "A@x.example; b@x.example",
            "due_date": "2026-12-01", "issue_date": "2026-11-01T00:00:00", "amount_total": "1200.50", "amount_open": 200, "currency": "EUR"}))
        .unwrap();
        assert_eq!((ok.number.as_str(), ok.customer.id.as_str()), ("INV/2026/0001", "7"));
        assert_eq!((ok.total.minor, ok.open.minor), (120_050, 20_000));
        assert_eq!(ok.customer.emails, ["a@x.example", "b@x.example"]);
        assert_eq!(
            rec(json!({"customer_id": "C", "due_date": "2026-12-01", "amount_total": "1"})).unwrap_err(),
            "no invoice number"
        );
        // Credit notes: negative amounts, or positive ones with the status `credit_note`.
        let cn =
            rec(json!({"invoice_number": "X", "customer_id": "C", "due_date": "2026-12-01", "amount_total": "-5.00"}))
                .unwrap();
        assert_eq!((cn.total.minor, cn.open.minor), (-500, -500));
        assert_eq!(cn.effective_status(), InvoiceStatus::CreditNote);
        let cn = rec(json!({"invoice_number": "X", "customer_id": "C", "due_date": "2026-12-01",
            "amount_total": "5.00", "amount_open": "2", "status": "credit_note"}))
        .unwrap();
        assert_eq!((cn.total.minor, cn.open.minor), (-500, -200));
        let bad = rec(json!({"invoice_number": "X", "customer_id": "C", "due_date": "2026-12-01",
            "amount_total": "-5.00", "amount_open": "-6"}));
        assert!(bad.unwrap_err().contains("not between"));
        let bad = rec(json!({"invoice_number": "X", "customer_id": "C", "due_date": "2026-12-01",
            "amount_total": "5.00", "amount_open": "-1"}));
        assert!(bad.unwrap_err().starts_with("negative amount_open"));
        let ccy = rec(
            json!({"invoice_number": "X", "customer_id": "C", "due_date": "2026-12-01", "amount_total": "5", "currency": "EUX"}),
        );
        assert_eq!(ccy.unwrap_err(), "unknown currency `EUX`");
        let date =
            rec(json!({"invoice_number": "X", "customer_id": "C", "due_date": "2026-02-30", "amount_total": "5"}));
        assert!(date.unwrap_err().contains("not a date"));
        let more = rec(
            json!({"invoice_number": "X", "customer_id": "C", "due_date": "2026-12-01", "amount_total": "5", "amount_open": "6"}),
        );
        assert!(more.unwrap_err().contains("more than amount_total"));
        let jpy = rec(json!({"invoice_number": "X", "customer_id": "C", "due_date": "2026-12-01", "amount_total": 1500, "currency": "JPY"})).unwrap();
        assert_eq!(jpy.total.minor, 1500);
    }

    #[test]
    fn amounts_beyond_max_amount_are_refused() {
        // Issue #11: 92233720368547758.07 is i64::MAX minor units; two of them wrapped every total.
        let big = rec(json!({"invoice_number": "X", "customer_id": "C", "due_date": "2026-12-01",
            "amount_total": "92233720368547758.07", "currency": "GBP"}));
        let why = big.unwrap_err();
        assert!(why.starts_with("amount_total: 92233720368547758.07 GBP is outside the accepted range"), "{why}");
        let open = rec(json!({"invoice_number": "X", "customer_id": "C", "due_date": "2026-12-01",
            "amount_total": "5", "amount_open": 1e15}));
        assert!(open.is_err());
        let limited = |total: &str| {
            record_from_json(
                &json!({"invoice_number": "X", "customer_id": "C", "due_date": "2026-12-01", "amount_total": total}),
                Currency::EUR,
                1000,
            )
        };
        assert!(limited("1000.00").is_ok());
        assert!(limited("1000.01").unwrap_err().contains("±1000 EUR"));
    }

    #[test]
    fn a_page_quarantines_out_of_range_records_and_applies_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
        let t = TenantId::new("t").unwrap();
        let mut import = PagedImport::incremental(&store, &t, "erp", "u1", Currency::EUR).unwrap().with_max_amount(10);
        let page = [
            json!({"invoice_number": "A", "customer_id": "C", "due_date": "2026-12-01", "amount_total": "10.00"}),
            json!({"invoice_number": "B", "customer_id": "C", "due_date": "2026-12-01", "amount_total": "10.01"}),
        ];
        import.page("page 1", &page).unwrap();
        let report = import.finish().unwrap();
        assert_eq!((report.items, report.quarantined), (1, 1));
        let q = store.quarantine(&t, 10).unwrap().items;
        assert_eq!(q[0].item, "page 1, record 2");
        assert!(q[0].reason.contains("outside the accepted range of ±10 EUR"), "{}", q[0].reason);
    }

    #[test]
    fn a_full_pass_that_would_close_too_much_closes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
        let t = TenantId::new("t").unwrap();
        let inv = |n: &str| json!({"invoice_number": n, "customer_id": "C", "due_date": "2026-12-01", "amount_total": "10.00"});
        let mut first = PagedImport::full(&store, &t, "erp", "p1", Currency::EUR).unwrap();
        first.page("page 1", &[inv("A"), inv("B"), inv("C"), inv("D")]).unwrap();
        first.finish().unwrap();
        // A query that suddenly returns one row: 3 of 4 would close (75 % > 50 %).
        let mut second = PagedImport::full(&store, &t, "erp", "p2", Currency::EUR).unwrap();
        second.page("page 1", &[inv("A")]).unwrap();
        let report = second.finish().unwrap();
        assert_eq!(report.quarantined, 1);
        let open = store.tenant_counts(&t).unwrap().invoices_by_status;
        assert_eq!(open, vec![("open".to_string(), 4)], "nothing closed");
        let q = store.quarantine(&t, 10).unwrap().items;
        assert!(q[0].reason.starts_with("full pass would close 3 of the tenant's 4 open invoices"), "{}", q[0].reason);
        // With the share raised, the next full pass closes them.
        let mut third =
            PagedImport::full(&store, &t, "erp", "p3", Currency::EUR).unwrap().with_max_close_share_bp(10_000);
        third.page("page 1", &[inv("A")]).unwrap();
        third.finish().unwrap();
        let counts = store.tenant_counts(&t).unwrap().invoices_by_status;
        assert!(counts.contains(&("closed".to_string(), 3)), "{counts:?}");
    }
}
