//! Inputs of the reporting figures (`relance_engine::reports`): the open
//! items of a tenant and its invoiced amounts per month. The figures
//! themselves are computed by the engine.

use chrono::NaiveDate;

use relance_domain::money::{Currency, Money};
use relance_domain::{InvoiceStatus, TenantId};
use relance_engine::reports::{MonthSales, OpenItem};

use super::{Store, StoreError};

impl Store {
    /// What the tenant is owed item by item: outstanding invoices with an
    /// open amount, and open credit notes (negative).
    pub fn open_items(&self, tenant: &TenantId) -> Result<Vec<OpenItem>, StoreError> {
        let outstanding: Vec<String> =
            InvoiceStatus::ALL.iter().filter(|s| s.is_outstanding()).map(|s| format!("'{}'", s.as_str())).collect();
        self.db.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT customer_id, due_date, open_minor, currency FROM invoices
                  WHERE tenant_id=?1 AND ((status IN ({}) AND open_minor > 0)
                     OR (status='{}' AND open_minor < 0))",
                outstanding.join(","),
                InvoiceStatus::CreditNote.as_str()
            ))?;
            let rows = st.query_map([tenant.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?))
            })?;
            rows.map(|row| {
                let (customer, due, open, ccy) = row?;
                let due = NaiveDate::parse_from_str(&due, "%Y-%m-%d")
                    .map_err(|e| StoreError::Corrupt(format!("due date `{due}`: {e}")))?;
                let currency = Currency::parse(&ccy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(OpenItem { customer, due, open: Money::new(open, currency) })
            })
            .collect()
        })
    }

    /// The amount invoiced per issue month and currency, months from the one
    /// of `from` on (credit notes and cancelled invoices left out).
    pub fn monthly_invoiced(&self, tenant: &TenantId, from: NaiveDate) -> Result<Vec<MonthSales>, StoreError> {
        self.db.read(|c| {
            let mut st = c.prepare(
                "SELECT substr(issue_date, 1, 7) AS month, currency, sum(total_minor) FROM invoices
                  WHERE tenant_id=?1 AND issue_date >= ?2 AND total_minor > 0 AND status NOT IN (?3, ?4)
                  GROUP BY month, currency ORDER BY month",
            )?;
            let from = from.format("%Y-%m-01").to_string();
            let rows = st.query_map(
                (tenant.as_str(), from.as_str(), InvoiceStatus::Cancelled.as_str(), InvoiceStatus::CreditNote.as_str()),
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)),
            )?;
            rows.map(|row| {
                let (month, ccy, total) = row?;
                let month = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
                    .map_err(|e| StoreError::Corrupt(format!("issue month `{month}`: {e}")))?;
                let currency = Currency::parse(&ccy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(MonthSales { month, invoiced: Money::new(total, currency) })
            })
            .collect()
        })
    }
}
