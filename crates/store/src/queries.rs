//! Read queries used by the API and metrics.

use chrono::NaiveDate;
use rusqlite::Row;
use serde::Serialize;

use super::{Store, StoreError, parse_time};
use relance_domain::money::{Currency, Money};
use relance_domain::{AuditEvent, Customer, Invoice, InvoiceStatus, QuarantineItem, TenantId};

/// A page of results with the total count of matching rows.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

/// Filter of the invoice list.
#[derive(Debug, Clone, Default)]
pub struct InvoiceQuery {
    pub statuses: Vec<InvoiceStatus>,
    pub customer_id: Option<String>,
    pub limit: u32,
    pub offset: u64,
}

/// Per-tenant figures exported as metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantCounts {
    pub invoices_by_status: Vec<(String, u64)>,
    pub quarantined: u64,
}

impl Store {
    pub fn invoices(&self, tenant: &TenantId, q: &InvoiceQuery) -> Result<Page<Invoice>, StoreError> {
        self.db.read(|c| {
            let mut where_sql = String::from("tenant_id=?1");
            let mut args: Vec<String> = vec![tenant.as_str().to_string()];
            if !q.statuses.is_empty() {
                let marks: Vec<String> = q
                    .statuses
                    .iter()
                    .map(|s| {
                        args.push(s.as_str().to_string());
                        format!("?{}", args.len())
                    })
                    .collect();
                where_sql.push_str(&format!(" AND status IN ({})", marks.join(",")));
            }
            if let Some(cust) = &q.customer_id {
                args.push(cust.clone());
                where_sql.push_str(&format!(" AND customer_id=?{}", args.len()));
            }
            let total: i64 = c.query_row(
                &format!("SELECT count(*) FROM invoices WHERE {where_sql}"),
                rusqlite::params_from_iter(&args),
                |r| r.get(0),
            )?;
            let sql = format!(
                "SELECT number, customer_id, issue_date, due_date, currency, total_minor, open_minor, status, source, updated_at,
                        erp_open_minor,
                        (SELECT coalesce(sum(a.amount_minor + a.write_off_minor - a.reflected_minor), 0) FROM allocations a
                          WHERE a.tenant_id=invoices.tenant_id AND a.invoice_number=invoices.number
                            AND a.erp_state='pending' AND a.undone_at IS NULL)
                 FROM invoices WHERE {where_sql} ORDER BY due_date, number LIMIT {} OFFSET {}",
                q.limit, q.offset
            );
            let mut st = c.prepare(&sql)?;
            let items = st
                .query_map(rusqlite::params_from_iter(&args), raw_invoice)?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(RawInvoice::into_invoice)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page {
                items,
                total: total as u64,
                limit: q.limit,
                offset: q.offset,
            })
        })
    }

    pub fn customers(&self, tenant: &TenantId, limit: u32, offset: u64) -> Result<Page<Customer>, StoreError> {
        self.db.read(|c| {
            let total: i64 = c.query_row("SELECT count(*) FROM customers WHERE tenant_id=?1", [tenant.as_str()], |r| r.get(0))?;
            let mut st = c.prepare(
                "SELECT c.id, c.name, c.emails, c.phones, c.segment, c.language, c.timezone,
                        (SELECT json_group_array(iban) FROM customer_ibans i WHERE i.tenant_id=c.tenant_id AND i.customer_id=c.id)
                 FROM customers c WHERE c.tenant_id=?1 ORDER BY c.id LIMIT ?2 OFFSET ?3",
            )?;
            let items = st
                .query_map((tenant.as_str(), limit, offset as i64), |r| {
                    let json_list = |i: usize| -> rusqlite::Result<Vec<String>> {
                        let s: String = r.get(i)?;
                        Ok(serde_json::from_str(&s).unwrap_or_default())
                    };
                    Ok(Customer {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        emails: json_list(2)?,
                        phones: json_list(3)?,
                        segment: r.get(4)?,
                        language: r.get::<_, Option<String>>(5)?.and_then(|l| l.parse().ok()),
                        timezone: r.get(6)?,
                        ibans: json_list(7)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page {
                items,
                total: total as u64,
                limit,
                offset,
            })
        })
    }

    /// Audit events after `after_id`, oldest first.
    pub fn events(&self, tenant: &TenantId, after_id: i64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.db.read(|c| {
            let mut st = c.prepare(
                "SELECT id, at, actor, kind, subject, data FROM audit_events
                 WHERE tenant_id=?1 AND id>?2 ORDER BY id LIMIT ?3",
            )?;
            let rows = st
                .query_map((tenant.as_str(), after_id, limit), |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, at, actor, kind, subject, data)| {
                    Ok(AuditEvent {
                        id,
                        at: parse_time(&at)?,
                        actor,
                        kind,
                        subject,
                        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                    })
                })
                .collect()
        })
    }

    pub fn quarantine(&self, tenant: &TenantId, limit: u32, offset: u64) -> Result<Page<QuarantineItem>, StoreError> {
        self.db.read(|c| {
            let total: i64 =
                c.query_row("SELECT count(*) FROM quarantine WHERE tenant_id=?1", [tenant.as_str()], |r| r.get(0))?;
            let mut st = c.prepare(
                "SELECT q.id, q.source, q.item, q.line, q.column_name, q.reason, q.raw, q.raw_path, q.created_at,
                        q.released_at, coalesce((SELECT i.state='held' FROM imports i WHERE i.id=q.import_id), 0)
                 FROM quarantine q WHERE q.tenant_id=?1 ORDER BY q.id LIMIT ?2 OFFSET ?3",
            )?;
            let rows = st
                .query_map((tenant.as_str(), limit, offset as i64), |r| {
                    Ok((
                        QuarantineItem {
                            id: r.get(0)?,
                            source: r.get(1)?,
                            item: r.get(2)?,
                            line: r.get::<_, Option<i64>>(3)?.map(|l| l as u64),
                            column: r.get(4)?,
                            reason: r.get(5)?,
                            raw: r.get(6)?,
                            raw_path: r.get(7)?,
                            created_at: chrono::DateTime::UNIX_EPOCH,
                            held: r.get(10)?,
                            released_at: None,
                        },
                        r.get::<_, String>(8)?,
                        r.get::<_, Option<String>>(9)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let items = rows
                .into_iter()
                .map(|(mut q, at, released)| {
                    q.created_at = parse_time(&at)?;
                    q.released_at = released.as_deref().map(parse_time).transpose()?;
                    Ok(q)
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Page { items, total: total as u64, limit, offset })
        })
    }

    /// Invoice counts by status and quarantine size for one tenant.
    pub fn tenant_counts(&self, tenant: &TenantId) -> Result<TenantCounts, StoreError> {
        self.db.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT status, count(*) FROM invoices WHERE tenant_id=?1 GROUP BY status ORDER BY status",
            )?;
            let invoices_by_status = st
                .query_map([tenant.as_str()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?
                .collect::<Result<Vec<_>, _>>()?;
            let quarantined: i64 =
                c.query_row("SELECT count(*) FROM quarantine WHERE tenant_id=?1", [tenant.as_str()], |r| r.get(0))?;
            Ok(TenantCounts { invoices_by_status, quarantined: quarantined as u64 })
        })
    }
}

struct RawInvoice {
    number: String,
    customer_id: String,
    issue_date: Option<String>,
    due_date: String,
    currency: String,
    total_minor: i64,
    open_minor: i64,
    status: String,
    source: String,
    updated_at: String,
    erp_open_minor: i64,
    pending_minor: i64,
}

fn raw_invoice(r: &Row<'_>) -> rusqlite::Result<RawInvoice> {
    Ok(RawInvoice {
        number: r.get(0)?,
        customer_id: r.get(1)?,
        issue_date: r.get(2)?,
        due_date: r.get(3)?,
        currency: r.get(4)?,
        total_minor: r.get(5)?,
        open_minor: r.get(6)?,
        status: r.get(7)?,
        source: r.get(8)?,
        updated_at: r.get(9)?,
        erp_open_minor: r.get(10)?,
        pending_minor: r.get(11)?,
    })
}

impl RawInvoice {
    fn into_invoice(self) -> Result<Invoice, StoreError> {
        let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("invoice {}: {what} `{v}`", self.number));
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| corrupt("date", s));
        let currency = Currency::parse(&self.currency).map_err(|_| corrupt("currency", &self.currency))?;
        Ok(Invoice {
            issue_date: self.issue_date.as_deref().map(date).transpose()?,
            due_date: date(&self.due_date)?,
            total: Money::new(self.total_minor, currency),
            open: Money::new(self.open_minor, currency),
            open_erp: Money::new(self.erp_open_minor, currency),
            pending_erp: Money::new(self.pending_minor, currency),
            status: self.status.parse().map_err(|_| corrupt("status", &self.status))?,
            updated_at: parse_time(&self.updated_at)?,
            number: self.number,
            customer_id: self.customer_id,
            source: self.source,
        })
    }
}
