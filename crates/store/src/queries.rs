//! Read queries used by the API and metrics.

use chrono::NaiveDate;
use serde::Serialize;

use super::db::{Row, Value, args};
use super::{Store, StoreError, parse_time};
use relance_domain::money::{Currency, Money};
use relance_domain::{AuditEvent, Customer, Invoice, InvoiceStatus, TenantId};

/// A page of results with the total count of matching rows, and the cursor
/// of the next page: `next_after` is the key (id) of the last item when more
/// rows follow, `None` at the end of the list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    /// Matching rows in all (the filter's, not the page's).
    pub total: u64,
    pub limit: u32,
    /// The `offset` asked (0 when paging by cursor).
    pub offset: u64,
    /// Give it as `after` for the next page; `null` on the last page.
    pub next_after: Option<K>,
}

/// Which part of a list to read: at most `limit` rows, those after the row
/// whose key is `after` in the list's order (keyset pagination), else from
/// the `offset`-th row (kept for compatibility; a list without an offset
/// ignores it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window<K> {
    pub limit: u32,
    pub after: Option<K>,
    pub offset: u64,
}

impl<K> Window<K> {
    /// The rows after the one keyed `after` (the first rows when `None`).
    pub fn after(limit: u32, after: Option<K>) -> Window<K> {
        Window { limit, after, offset: 0 }
    }

    /// The row count to ask the database for: one more than the page, to
    /// learn whether another page follows.
    pub(crate) fn probe(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// The offset as an SQL integer (an offset past `i64::MAX` reads nothing anyway).
    pub(crate) fn sql_offset(&self) -> i64 {
        i64::try_from(self.offset).unwrap_or(i64::MAX)
    }
}

impl<K> From<u32> for Window<K> {
    fn from(limit: u32) -> Window<K> {
        Window { limit, after: None, offset: 0 }
    }
}

/// Cuts rows read with one more than `limit` (see `Window::probe`) to the
/// page, and gives the key of its last row when more rows follow: the
/// `next_after` of keyset pagination.
pub fn cut_page<T, K>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> K) -> (Vec<T>, Option<K>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(key);
    (rows, next)
}

/// Filter of the invoice list, by due date then number. `after` is an
/// invoice number: the page starts after that invoice (at its current
/// due date).
#[derive(Debug, Clone, Default)]
pub struct InvoiceQuery {
    pub statuses: Vec<InvoiceStatus>,
    pub customer_id: Option<String>,
    pub limit: u32,
    pub offset: u64,
    pub after: Option<String>,
}

/// Per-tenant figures exported as metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantCounts {
    pub invoices_by_status: Vec<(String, u64)>,
    pub quarantined: u64,
}

impl Store {
    pub fn invoices(&self, tenant: &TenantId, q: &InvoiceQuery) -> Result<Page<Invoice, String>, StoreError> {
        self.db.read_any(|db| {
            let mut where_sql = String::from("tenant_id=?1");
            let mut args: Vec<Value> = vec![Value::Text(tenant.as_str().to_string())];
            if !q.statuses.is_empty() {
                let marks: Vec<String> = q
                    .statuses
                    .iter()
                    .map(|s| {
                        args.push(Value::Text(s.as_str().to_string()));
                        format!("?{}", args.len())
                    })
                    .collect();
                where_sql.push_str(&format!(" AND status IN ({})", marks.join(",")));
            }
            if let Some(cust) = &q.customer_id {
                args.push(Value::Text(cust.clone()));
                where_sql.push_str(&format!(" AND customer_id=?{}", args.len()));
            }
            let total: i64 = db.query_one(&format!("SELECT count(*) FROM invoices WHERE {where_sql}"), &args)?.get(0)?;
            let mut offset = q.offset;
            if let Some(after) = &q.after {
                let due: Option<String> = db
                    .query_opt(
                        "SELECT due_date FROM invoices WHERE tenant_id=?1 AND number=?2",
                        args![tenant.as_str(), after],
                    )?
                    .map(|r| r.get(0))
                    .transpose()?;
                let due = due.ok_or_else(|| StoreError::UnknownCursor(format!("no invoice `{after}`")))?;
                args.push(Value::Text(due));
                args.push(Value::Text(after.clone()));
                where_sql.push_str(&format!(" AND (due_date, number) > (?{}, ?{})", args.len() - 1, args.len()));
                offset = 0;
            }
            let sql = format!(
                "SELECT number, customer_id, issue_date, due_date, currency, total_minor, open_minor, status, source, updated_at,
                        erp_open_minor,
                        (SELECT coalesce(sum(CASE WHEN a.amount_minor < 0 THEN a.amount_minor + a.reflected_minor
                                                   ELSE a.amount_minor + a.write_off_minor - a.reflected_minor END), 0) FROM allocations a
                          WHERE a.tenant_id=invoices.tenant_id AND a.invoice_number=invoices.number
                            AND a.erp_state='pending' AND a.undone_at IS NULL)
                 FROM invoices WHERE {where_sql} ORDER BY due_date, number LIMIT {} OFFSET {}",
                i64::from(q.limit) + 1,
                offset
            );
            let items = db
                .query(&sql, &args)?
                .iter()
                .map(|r| raw_invoice(r)?.into_invoice())
                .collect::<Result<Vec<_>, _>>()?;
            let (items, next_after) = cut_page(items, q.limit, |i: &Invoice| i.number.clone());
            Ok(Page { items, total: total as u64, limit: q.limit, offset, next_after })
        })
    }

    /// Customers by id; `after` is a customer id.
    pub fn customers(
        &self,
        tenant: &TenantId,
        page: impl Into<Window<String>>,
    ) -> Result<Page<Customer, String>, StoreError> {
        let page = page.into();
        let offset = if page.after.is_some() { 0 } else { page.sql_offset() };
        self.db.read_any(|db| {
            let total: i64 =
                db.query_one("SELECT count(*) FROM customers WHERE tenant_id=?1", args![tenant.as_str()])?.get(0)?;
            let rows = db.query(
                "SELECT c.id, c.name, c.emails, c.phones, c.segment, c.language, c.timezone,
                        (SELECT json_group_array(iban) FROM (SELECT iban FROM customer_ibans i
                          WHERE i.tenant_id=c.tenant_id AND i.customer_id=c.id ORDER BY iban) AS ib)
                 FROM customers c WHERE c.tenant_id=?1 AND (CAST(?4 AS TEXT) IS NULL OR c.id > ?4)
                 ORDER BY c.id LIMIT ?2 OFFSET ?3",
                args![tenant.as_str(), page.probe(), offset, page.after.as_deref()],
            )?;
            let items = rows
                .iter()
                .map(|r| {
                    let json_list = |i: usize| -> Result<Vec<String>, StoreError> {
                        let s: String = r.get(i)?;
                        Ok(serde_json::from_str(&s).unwrap_or_default())
                    };
                    Ok(Customer {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        emails: json_list(2)?,
                        phones: json_list(3)?,
                        segment: r.get(4)?,
                        language: r.get::<Option<String>>(5)?.and_then(|l| l.parse().ok()),
                        timezone: r.get(6)?,
                        ibans: json_list(7)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let (items, next_after) = cut_page(items, page.limit, |c: &Customer| c.id.clone());
            Ok(Page { items, total: total as u64, limit: page.limit, offset: offset as u64, next_after })
        })
    }

    /// Audit events after `after_id`, oldest first.
    pub fn events(&self, tenant: &TenantId, after_id: i64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.db.read_any(|db| {
            db.query(
                "SELECT id, at, actor, kind, subject, data FROM audit_events
                 WHERE tenant_id=?1 AND id>?2 ORDER BY id LIMIT ?3",
                crate::db::args![tenant.as_str(), after_id, limit],
            )?
            .iter()
            .map(|r| {
                Ok(AuditEvent {
                    id: r.get(0)?,
                    at: parse_time(&r.get::<String>(1)?)?,
                    actor: r.get(2)?,
                    kind: r.get(3)?,
                    subject: r.get(4)?,
                    data: serde_json::from_str(&r.get::<String>(5)?).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
        })
    }

    /// Invoice counts by status and quarantine size for one tenant.
    pub fn tenant_counts(&self, tenant: &TenantId) -> Result<TenantCounts, StoreError> {
        self.db.read_any(|db| {
            let invoices_by_status = db
                .query(
                    "SELECT status, count(*) FROM invoices WHERE tenant_id=?1 GROUP BY status ORDER BY status",
                    args![tenant.as_str()],
                )?
                .iter()
                .map(|r| Ok((r.get::<String>(0)?, r.get::<u64>(1)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let quarantined: i64 =
                db.query_one("SELECT count(*) FROM quarantine WHERE tenant_id=?1", args![tenant.as_str()])?.get(0)?;
            Ok(TenantCounts { invoices_by_status, quarantined: quarantined as u64 })
        })
    }

    /// What waits for a person in a tenant (the workspace's Today page), counted
    /// in SQL: one statement over the status indexes.
    pub fn workload(&self, tenant: &TenantId) -> Result<Workload, StoreError> {
        self.db.read_any(|db| {
            let n = |sql: &str| -> Result<u64, StoreError> {
                let v: i64 = db.query_one(sql, args![tenant.as_str()])?.get(0)?;
                Ok(u64::try_from(v).unwrap_or(0))
            };
            Ok(Workload {
                payments_to_review: n(
                    "SELECT count(*) FROM payments WHERE tenant_id=?1 AND status IN ('suggested','unmatched')",
                )?,
                replies_to_confirm: n("SELECT count(*) FROM inbound_messages WHERE tenant_id=?1 AND status='review'")?,
                reminders_to_approve: n("SELECT count(*) FROM outbox WHERE tenant_id=?1 AND status='to_confirm'")?,
                open_tasks: n("SELECT count(*) FROM tasks WHERE tenant_id=?1 AND status='open'")?,
                broken_promises: n("SELECT count(*) FROM promises WHERE tenant_id=?1 AND status='broken'")?,
                failed_reminders: n("SELECT count(*) FROM outbox WHERE tenant_id=?1 AND status='failed'")?,
                quarantined: n(
                    "SELECT count(*) FROM quarantine WHERE tenant_id=?1 AND handled_at IS NULL AND released_at IS NULL",
                )?,
            })
        })
    }
}

/// What waits for a person in a tenant: see [`Store::workload`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Workload {
    pub payments_to_review: u64,
    pub replies_to_confirm: u64,
    pub reminders_to_approve: u64,
    pub open_tasks: u64,
    pub broken_promises: u64,
    pub failed_reminders: u64,
    pub quarantined: u64,
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

fn raw_invoice(r: &Row) -> Result<RawInvoice, StoreError> {
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
