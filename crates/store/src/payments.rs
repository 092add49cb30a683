//! Payments, allocations and the ERP write-back outbox.
//!
//! - A statement file is stored in one transaction with all its transactions
//!   (`INSERT OR IGNORE` on a dedupe key), so a re-import or an overlapping
//!   statement adds only what is new, and a crash leaves either the whole file
//!   or nothing.
//! - A payment's decision (applied, suggested, rejected) is one transaction
//!   guarded by the payment's current status: a payment is never applied twice,
//!   whatever crashes or concurrent reviewers do.
//! - Applying writes the allocations, the invoices' new open amounts and
//!   statuses, audit events and one outbox row per allocation together.
//! - An allocation is pending in the ERP until the ERP reflects it
//!   ([`super::reflection`]): the invoice's open amount is the ERP's less the
//!   pending allocations, so applying, undoing and a write-back that registers
//!   the payment all recompute it from those two figures.

use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::json;

use super::reflection::{self, ErpState};
use super::sqlite::insert_event;
use super::{Page, Store, StoreError, now_text};
use relance_domain::AllocationNotice;
use relance_domain::money::{Currency, Money};
use relance_domain::{Direction, TenantId};
use relance_engine::matching::{OpenInvoice, Payer};

/// A bank transaction to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub dedupe_key: String,
    pub account: Option<String>,
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    pub amount: Money,
    pub direction: Direction,
    pub reversal: bool,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    pub remittance: Option<String>,
    pub structured_ref: Option<String>,
    pub end_to_end_id: Option<String>,
    pub bank_ref: Option<String>,
}

/// A stored payment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredPayment {
    pub id: i64,
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    pub currency: String,
    pub amount: String,
    pub unallocated: String,
    pub direction: Direction,
    pub reversal: bool,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    pub remittance: Option<String>,
    pub structured_ref: Option<String>,
    pub end_to_end_id: Option<String>,
    pub bank_ref: Option<String>,
    pub status: String,
    /// Ranked candidates with their reasons, as decided by the matcher.
    pub match_result: Option<serde_json::Value>,
    #[serde(skip)]
    pub amount_money: Money,
    #[serde(skip)]
    pub unallocated_money: Money,
}

/// An allocation to apply: invoice, amount taken from the payment, and what
/// is closed on top of it (fee or discount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationRequest {
    pub invoice: String,
    pub amount: Money,
    pub write_off: Option<Money>,
}

/// What a statement import stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatementOutcome {
    pub file_id: i64,
    pub inserted: u64,
    pub duplicates: u64,
}

const PAYMENT_COLUMNS: &str =
    "id, booking_date, value_date, amount_minor, currency, direction, reversal, counterparty_name,
    counterparty_iban, remittance, structured_ref, end_to_end_id, bank_ref, status, match_result, unallocated_minor";

/// The currency of a stored row; an unknown code is corrupt data, never
/// silently read as another currency.
fn stored_currency(code: &str, what: impl FnOnce() -> String) -> Result<Currency, StoreError> {
    Currency::parse(code).map_err(|e| StoreError::Corrupt(format!("{}: {e}", what())))
}

/// A row's currency inside a rusqlite row mapper (column `idx`).
fn row_currency(code: &str, idx: usize) -> rusqlite::Result<Currency> {
    Currency::parse(code)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

fn payment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredPayment, String, String, String)> {
    let currency: String = r.get(4)?;
    let ccy = row_currency(&currency, 4)?;
    let amount = Money::new(r.get(3)?, ccy);
    let unallocated = Money::new(r.get(15)?, ccy);
    let direction: String = r.get(5)?;
    Ok((
        StoredPayment {
            id: r.get(0)?,
            booking_date: NaiveDate::MIN,
            value_date: None,
            currency,
            amount: amount.to_decimal_string(),
            unallocated: unallocated.to_decimal_string(),
            direction: if direction == "debit" { Direction::Debit } else { Direction::Credit },
            reversal: r.get(6)?,
            counterparty_name: r.get(7)?,
            counterparty_iban: r.get(8)?,
            remittance: r.get(9)?,
            structured_ref: r.get(10)?,
            end_to_end_id: r.get(11)?,
            bank_ref: r.get(12)?,
            status: r.get(13)?,
            match_result: r.get::<_, Option<String>>(14)?.and_then(|s| serde_json::from_str(&s).ok()),
            amount_money: amount,
            unallocated_money: unallocated,
        },
        r.get(1)?,
        r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        String::new(),
    ))
}

fn finish_payment(
    (mut p, booking, value, _): (StoredPayment, String, String, String),
) -> Result<StoredPayment, StoreError> {
    let date = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|e| StoreError::Corrupt(format!("payment {}: date `{s}`: {e}", p.id)))
    };
    p.booking_date = date(&booking)?;
    p.value_date = if value.is_empty() { None } else { Some(date(&value)?) };
    Ok(p)
}

fn load_payment(c: &Connection, tenant: &str, id: i64) -> Result<Option<StoredPayment>, StoreError> {
    c.query_row(
        &format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE tenant_id=?1 AND id=?2"),
        (tenant, id),
        payment_row,
    )
    .optional()?
    .map(finish_payment)
    .transpose()
}

impl Store {
    /// Whether a statement file with this content was already handled.
    pub fn statement_file_known(&self, tenant: &TenantId, sha256: &str) -> Result<bool, StoreError> {
        self.db.read(|c| {
            Ok(c.query_row(
                "SELECT 1 FROM statement_files WHERE tenant_id=?1 AND sha256=?2",
                (tenant.as_str(), sha256),
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
    }

    /// Stores a parsed statement file and its transactions in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn store_statement(
        &self,
        tenant: &TenantId,
        source: &str,
        sha256: &str,
        label: &str,
        kept_path: Option<&str>,
        format: &str,
        payments: &[NewPayment],
    ) -> Result<StatementOutcome, StoreError> {
        self.db.write(|tx| {
            let t = tenant.as_str();
            let now = now_text();
            tx.execute(
                "INSERT INTO statement_files (tenant_id, source, sha256, label, kept_path, format, transactions, received_at)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                params![t, source, sha256, label, kept_path, format, payments.len() as i64, now],
            )?;
            let file_id = tx.last_insert_rowid();
            let mut st = tx.prepare_cached(
                "INSERT OR IGNORE INTO payments (tenant_id, dedupe_key, source, file_id, account, booking_date, value_date,
                    amount_minor, currency, direction, reversal, counterparty_name, counterparty_iban, remittance,
                    structured_ref, end_to_end_id, bank_ref, status, unallocated_minor, created_at, updated_at)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?20)",
            )?;
            let mut out = StatementOutcome { file_id, ..Default::default() };
            for p in payments {
                let to_match = p.direction == Direction::Credit && !p.reversal;
                let n = st.execute(params![
                    t,
                    p.dedupe_key,
                    source,
                    file_id,
                    p.account,
                    p.booking_date.to_string(),
                    p.value_date.map(|d| d.to_string()),
                    p.amount.minor,
                    p.amount.currency.code(),
                    if p.direction == Direction::Credit { "credit" } else { "debit" },
                    p.reversal,
                    p.counterparty_name,
                    p.counterparty_iban,
                    p.remittance,
                    p.structured_ref,
                    p.end_to_end_id,
                    p.bank_ref,
                    if to_match { "new" } else { "ignored" },
                    if to_match { p.amount.minor } else { 0 },
                    now,
                ])?;
                if n == 1 { out.inserted += 1 } else { out.duplicates += 1 }
            }
            insert_event(
                tx,
                t,
                &format!("connector:{source}"),
                "statement_imported",
                &format!("statement_file:{file_id}"),
                &json!({ "label": label, "format": format, "transactions": payments.len(), "new": out.inserted, "already_known": out.duplicates }),
            )?;
            Ok(out)
        })
    }

    /// Remembers a statement file that could not be parsed, so it is not retried while unchanged.
    pub fn record_statement_rejected(
        &self,
        tenant: &TenantId,
        source: &str,
        sha256: &str,
        label: &str,
        kept: Option<&str>,
    ) -> Result<(), StoreError> {
        self.db.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO statement_files (tenant_id, source, sha256, label, kept_path, format, received_at)
                 VALUES (?1,?2,?3,?4,?5,NULL,?6)",
                params![tenant.as_str(), source, sha256, label, kept, now_text()],
            )?;
            Ok(())
        })
    }

    /// Credits waiting for the matcher, oldest first: new ones, and unmatched
    /// ones whose last attempt is older than the latest invoice change (an
    /// invoice often reaches the ERP export after its payment reaches the bank).
    pub fn payments_to_match(&self, tenant: &TenantId) -> Result<Vec<StoredPayment>, StoreError> {
        self.db.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE tenant_id=?1 AND (status='new' OR (status='unmatched'
                   AND updated_at < (SELECT coalesce(max(updated_at), '') FROM invoices WHERE tenant_id=?1))) ORDER BY id"
            ))?;
            let rows = st.query_map([tenant.as_str()], payment_row)?.collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(finish_payment).collect()
        })
    }

    /// Payments with one of `statuses` (all when empty), oldest first.
    pub fn payments_with_status(
        &self,
        tenant: &TenantId,
        statuses: &[&str],
        limit: u32,
        offset: u64,
    ) -> Result<Page<StoredPayment>, StoreError> {
        self.db.read(|c| {
            let filter = super::status_filter(statuses);
            let total: i64 = c.query_row(
                &format!("SELECT count(*) FROM payments WHERE tenant_id=?1{filter}"),
                [tenant.as_str()],
                |r| r.get(0),
            )?;
            let mut st = c.prepare(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE tenant_id=?1{filter} ORDER BY id LIMIT ?2 OFFSET ?3"
            ))?;
            let rows = st
                .query_map(params![tenant.as_str(), i64::from(limit.min(i32::MAX as u32)), offset as i64], payment_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let items = rows.into_iter().map(finish_payment).collect::<Result<Vec<_>, _>>()?;
            Ok(Page { items, total: total as u64, limit, offset })
        })
    }

    pub fn payment(&self, tenant: &TenantId, id: i64) -> Result<Option<StoredPayment>, StoreError> {
        self.db.read(|c| load_payment(c, tenant.as_str(), id))
    }

    /// What the matcher needs: open invoices and payers (with source and learned IBANs).
    pub fn matching_inputs(&self, tenant: &TenantId) -> Result<(Vec<OpenInvoice>, Vec<Payer>), StoreError> {
        self.db.read(|c| {
            let t = tenant.as_str();
            let mut st = c.prepare(
                "SELECT number, customer_id, issue_date, due_date, currency, total_minor, open_minor FROM invoices
                 WHERE tenant_id=?1 AND status IN ('open','partially_paid','disputed') AND open_minor > 0",
            )?;
            let raw = st
                .query_map([t], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?, r.get::<_, i64>(5)?, r.get::<_, i64>(6)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut invoices = Vec::with_capacity(raw.len());
            for (number, customer_id, issue, due, ccy, total, open) in raw {
                let ccy = Currency::parse(&ccy).map_err(|e| StoreError::Corrupt(format!("invoice {number}: {e}")))?;
                let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
                invoices.push(OpenInvoice {
                    due_date: date(&due).ok_or_else(|| StoreError::Corrupt(format!("invoice {number}: due date `{due}`")))?,
                    issue_date: issue.as_deref().and_then(date),
                    number,
                    customer_id,
                    total: Money::new(total, ccy),
                    open: Money::new(open, ccy),
                });
            }
            let mut st = c.prepare(
                "SELECT c.id, c.name, (SELECT group_concat(iban, ' ') FROM customer_ibans i WHERE i.tenant_id=c.tenant_id AND i.customer_id=c.id)
                 FROM customers c WHERE c.tenant_id=?1",
            )?;
            let payers = st
                .query_map([t], |r| {
                    Ok(Payer {
                        customer_id: r.get(0)?,
                        name: r.get(1)?,
                        ibans: r.get::<_, Option<String>>(2)?.map(|s| s.split(' ').map(str::to_string).collect()).unwrap_or_default(),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((invoices, payers))
        })
    }

    /// Records the matcher's verdict for a payment it did not apply.
    pub fn set_payment_review(
        &self,
        tenant: &TenantId,
        id: i64,
        status: &str,
        result: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        self.db.write(|tx| {
            let before: Option<String> = tx
                .query_row(
                    "SELECT status FROM payments WHERE tenant_id=?1 AND id=?2",
                    params![tenant.as_str(), id],
                    |r| r.get(0),
                )
                .optional()?;
            let n = tx.execute(
                "UPDATE payments SET status=?3, match_result=?4, updated_at=?5
                 WHERE tenant_id=?1 AND id=?2 AND status IN ('new','unmatched')",
                params![tenant.as_str(), id, status, result.to_string(), now_text()],
            )?;
            // A re-match that changes nothing is not news.
            if n == 1 && before.as_deref() != Some(status) {
                insert_event(
                    tx,
                    tenant.as_str(),
                    "matcher",
                    &format!("payment_{status}"),
                    &format!("payment:{id}"),
                    result,
                )?;
            }
            Ok(n == 1)
        })
    }

    /// Applies allocations to a payment whose status is one of `from`. Returns
    /// the allocation ids; `Rejected` when the payment moved on or an amount
    /// does not fit.
    #[allow(clippy::too_many_arguments)]
    pub fn apply_payment(
        &self,
        tenant: &TenantId,
        id: i64,
        from: &[&str],
        allocations: &[AllocationRequest],
        actor: &str,
        result: Option<&serde_json::Value>,
        learn: LearnIban<'_>,
    ) -> Result<Vec<i64>, StoreError> {
        self.db.write(|tx| apply(tx, tenant.as_str(), id, from, allocations, actor, result, learn))
    }

    /// Rejects a payment from the review queue (not ours, refund…).
    pub fn reject_payment(&self, tenant: &TenantId, id: i64, actor: &str, reason: &str) -> Result<(), StoreError> {
        self.db.write(|tx| {
            let n = tx.execute(
                "UPDATE payments SET status='rejected', updated_at=?3 WHERE tenant_id=?1 AND id=?2 AND status IN ('suggested','unmatched')",
                params![tenant.as_str(), id, now_text()],
            )?;
            if n != 1 {
                return Err(StoreError::Rejected(format!("payment {id} is not waiting for review")));
            }
            insert_event(tx, tenant.as_str(), actor, "payment_rejected", &format!("payment:{id}"), &json!({ "reason": reason }))?;
            Ok(())
        })
    }

    /// Undoes an allocation: the invoice owes it again, the payment goes back to review.
    pub fn undo_allocation(&self, tenant: &TenantId, allocation_id: i64, actor: &str) -> Result<(), StoreError> {
        self.db.write(|tx| {
            let t = tenant.as_str();
            let row: Option<(i64, String, i64, String)> = tx
                .query_row(
                    "SELECT payment_id, invoice_number, amount_minor, currency FROM allocations
                     WHERE tenant_id=?1 AND id=?2 AND undone_at IS NULL",
                    (t, allocation_id),
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((payment_id, invoice, amount, ccy)) = row else {
                return Err(StoreError::Rejected(format!("allocation {allocation_id} does not exist or is already undone")));
            };
            let now = now_text();
            tx.execute("UPDATE allocations SET undone_at=?3, undone_by=?4 WHERE tenant_id=?1 AND id=?2", params![t, allocation_id, now, actor])?;
            // No longer pending: the invoice owes the ERP's open amount less what is still pending.
            let refreshed = reflection::refresh_invoice(tx, t, &invoice, &now)?;
            tx.execute(
                "UPDATE payments SET unallocated_minor=unallocated_minor+?3, status='suggested', updated_at=?4 WHERE tenant_id=?1 AND id=?2",
                params![t, payment_id, amount, now],
            )?;
            tx.execute(
                "INSERT INTO writeback_queue (tenant_id, allocation_id, reversal, created_at) VALUES (?1,?2,1,?3)",
                params![t, allocation_id, now],
            )?;
            let exp = stored_currency(&ccy, || format!("allocation {allocation_id}"))?.exponent();
            insert_event(
                tx,
                t,
                actor,
                "allocation_undone",
                &format!("invoice:{invoice}"),
                &json!({
                    "allocation": allocation_id, "payment": payment_id, "amount": relance_domain::money::format_minor(amount, exp),
                    "amount_open": relance_domain::money::format_minor(refreshed.open, exp),
                    "pending_erp": relance_domain::money::format_minor(refreshed.pending, exp),
                    "status": [refreshed.status_before, refreshed.status_after],
                }),
            )?;
            Ok(())
        })
    }

    /// Write-back notices not delivered yet, oldest first.
    pub fn pending_writebacks(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> Result<Vec<(i64, AllocationNotice)>, StoreError> {
        self.db.read(|c| {
            let mut st = c.prepare(
                "SELECT o.id, o.reversal, a.id, a.invoice_number, a.amount_minor, a.currency, p.bank_ref, p.booking_date
                 FROM writeback_queue o JOIN allocations a ON a.id=o.allocation_id JOIN payments p ON p.id=a.payment_id
                 WHERE o.tenant_id=?1 AND o.delivered_at IS NULL ORDER BY o.id LIMIT ?2",
            )?;
            let rows = st
                .query_map(params![tenant.as_str(), limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, String>(7)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(oid, reversal, aid, invoice, amount, ccy, bank_ref, booking)| {
                    let ccy = Currency::parse(&ccy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    Ok((
                        oid,
                        AllocationNotice {
                            tenant: tenant.clone(),
                            allocation_id: aid,
                            invoice_number: invoice,
                            amount: Money::new(amount, ccy),
                            payment_reference: bank_ref,
                            booking_date: NaiveDate::parse_from_str(&booking, "%Y-%m-%d")
                                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                            reversal,
                        },
                    ))
                })
                .collect()
        })
    }

    /// Marks a write-back notice delivered (or records the failure).
    pub fn mark_writeback(
        &self,
        tenant: &TenantId,
        outbox_id: i64,
        result: Result<(), &str>,
    ) -> Result<(), StoreError> {
        let t = tenant.as_str();
        self.db.write(|tx| {
            match result {
                Ok(()) => tx.execute(
                    "UPDATE writeback_queue SET delivered_at=?3, attempts=attempts+1 WHERE tenant_id=?1 AND id=?2",
                    params![t, outbox_id, now_text()],
                )?,
                Err(e) => tx.execute(
                    "UPDATE writeback_queue SET attempts=attempts+1, last_error=?3 WHERE tenant_id=?1 AND id=?2",
                    params![t, outbox_id, e],
                )?,
            };
            Ok(())
        })
    }

    /// Marks a write-back notice delivered by a connector that registers
    /// payments in the ERP (Odoo's): in the same transaction, the
    /// allocation's amount is reflected and the ERP's open amount of the
    /// invoice lowered by it (see [`super::reflection`]). A reversal notice
    /// is only marked delivered.
    pub fn mark_writeback_registered(&self, tenant: &TenantId, outbox_id: i64) -> Result<(), StoreError> {
        let t = tenant.as_str();
        self.db.write(|tx| {
            let now = now_text();
            let row: Option<(i64, bool)> = tx
                .query_row(
                    "SELECT allocation_id, reversal FROM writeback_queue WHERE tenant_id=?1 AND id=?2 AND delivered_at IS NULL",
                    params![t, outbox_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((allocation, reversal)) = row else { return Ok(()) };
            tx.execute(
                "UPDATE writeback_queue SET delivered_at=?3, attempts=attempts+1 WHERE tenant_id=?1 AND id=?2",
                params![t, outbox_id, now],
            )?;
            if !reversal {
                reflection::reflect_registered(tx, t, allocation, &now)?;
            }
            Ok(())
        })
    }

    /// Allocations of a payment (including undone ones), for the API.
    pub fn allocations(&self, tenant: &TenantId, payment_id: i64) -> Result<Vec<serde_json::Value>, StoreError> {
        self.db.read(|c| {
            let mut st = c.prepare(
                "SELECT id, invoice_number, amount_minor, write_off_minor, currency, actor, created_at, undone_at,
                        erp_state, reflected_minor, reflected_at, reflected_by FROM allocations
                 WHERE tenant_id=?1 AND payment_id=?2 ORDER BY id",
            )?;
            let rows = st
                .query_map((tenant.as_str(), payment_id), |r| {
                    let ccy: String = r.get(4)?;
                    let exp = row_currency(&ccy, 4)?.exponent();
                    let (amount, write_off, reflected): (i64, i64, i64) = (r.get(2)?, r.get(3)?, r.get(9)?);
                    let undone_at: Option<String> = r.get(7)?;
                    let erp_state: String = r.get(8)?;
                    let pending = ErpState::parse(&erp_state).ok_or_else(|| {
                        rusqlite::Error::FromSqlConversionFailure(
                            8,
                            rusqlite::types::Type::Text,
                            format!("allocation erp_state `{erp_state}`").into(),
                        )
                    })? == ErpState::Pending;
                    // What the ERP has still to reflect of it (nothing once undone).
                    let pending_erp = if pending && undone_at.is_none() {
                        amount.saturating_add(write_off).saturating_sub(reflected).max(0)
                    } else {
                        0
                    };
                    Ok(json!({
                        "id": r.get::<_, i64>(0)?,
                        "invoice": r.get::<_, String>(1)?,
                        "amount": relance_domain::money::format_minor(r.get(2)?, exp),
                        "write_off": relance_domain::money::format_minor(r.get(3)?, exp),
                        "currency": ccy,
                        "actor": r.get::<_, String>(5)?,
                        "created_at": r.get::<_, String>(6)?,
                        "undone_at": undone_at,
                        "erp_state": erp_state,
                        "pending_erp": relance_domain::money::format_minor(pending_erp, exp),
                        "reflected": relance_domain::money::format_minor(reflected, exp),
                        "reflected_at": r.get::<_, Option<String>>(10)?,
                        "reflected_by": r.get::<_, Option<String>>(11)?,
                    }))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}

/// What an applied payment teaches about its payer's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnIban<'a> {
    /// Nothing (no account, or a correction that must not teach).
    No,
    /// This account belongs to this customer (the matcher's candidate said so).
    Customer { iban: &'a str, customer: &'a str },
    /// The payment's counterparty account belongs to the customer of the
    /// allocated invoices, when they all belong to one customer (a person
    /// accepted or allocated the payment).
    FromInvoices,
}

#[allow(clippy::too_many_arguments)]
fn apply(
    tx: &Transaction<'_>,
    t: &str,
    id: i64,
    from: &[&str],
    allocations: &[AllocationRequest],
    actor: &str,
    result: Option<&serde_json::Value>,
    learn: LearnIban<'_>,
) -> Result<Vec<i64>, StoreError> {
    let payment =
        load_payment(tx, t, id)?.ok_or_else(|| StoreError::Rejected(format!("payment {id} does not exist")))?;
    if !from.contains(&payment.status.as_str()) {
        return Err(StoreError::Rejected(format!("payment {id} is {}, not {}", payment.status, from.join(" or "))));
    }
    if allocations.is_empty() {
        return Err(StoreError::Rejected("no allocation given".into()));
    }
    let total = allocations
        .iter()
        .try_fold(0i64, |sum, a| sum.checked_add(a.amount.minor))
        .ok_or_else(|| StoreError::Rejected("the allocations' total overflows".into()))?;
    if allocations.iter().any(|a| a.amount.minor <= 0 || a.amount.currency != payment.amount_money.currency) {
        return Err(StoreError::Rejected(format!("allocations must be positive amounts in {}", payment.currency)));
    }
    if total > payment.unallocated_money.minor {
        return Err(StoreError::Rejected(format!(
            "allocations total {} but only {} of the payment is unallocated",
            Money::new(total, payment.amount_money.currency).to_decimal_string(),
            payment.unallocated
        )));
    }
    let now = now_text();
    let mut ids = Vec::new();
    for a in allocations {
        let open: Option<(i64, String)> = tx
            .query_row(
                "SELECT open_minor, currency FROM invoices WHERE tenant_id=?1 AND number=?2",
                (t, &a.invoice),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (open, ccy) = open.ok_or_else(|| StoreError::Rejected(format!("invoice {} does not exist", a.invoice)))?;
        let take = a
            .amount
            .minor
            .checked_add(a.write_off.map_or(0, |w| w.minor))
            .ok_or_else(|| StoreError::Rejected(format!("invoice {}: amount and write-off overflow", a.invoice)))?;
        if ccy != payment.currency {
            return Err(StoreError::Rejected(format!(
                "invoice {} is in {ccy}, the payment in {}",
                a.invoice, payment.currency
            )));
        }
        if take > open {
            return Err(StoreError::Rejected(format!(
                "invoice {} has {} open, cannot apply {}",
                a.invoice,
                Money::new(open, a.amount.currency).to_decimal_string(),
                Money::new(take, a.amount.currency).to_decimal_string()
            )));
        }
        // Pending in the ERP until it reflects it: the invoice's open amount is the ERP's less it.
        tx.execute(
            "INSERT INTO allocations (tenant_id, payment_id, invoice_number, amount_minor, write_off_minor, currency, actor, created_at, erp_state)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
            params![t, id, a.invoice, a.amount.minor, a.write_off.map_or(0, |w| w.minor), ccy, actor, now, ErpState::Pending.as_str()],
        )?;
        let aid = tx.last_insert_rowid();
        let refreshed = reflection::refresh_invoice(tx, t, &a.invoice, &now)?;
        let (new_open, before, after) = (refreshed.open, refreshed.status_before, refreshed.status_after);
        tx.execute(
            "INSERT INTO writeback_queue (tenant_id, allocation_id, created_at) VALUES (?1,?2,?3)",
            params![t, aid, now],
        )?;
        insert_event(
            tx,
            t,
            actor,
            "allocation_applied",
            &format!("invoice:{}", a.invoice),
            &json!({
                "allocation": aid, "payment": id, "amount": a.amount.to_decimal_string(),
                "write_off": a.write_off.map(|w| w.to_decimal_string()),
                "amount_open": Money::new(new_open, a.amount.currency).to_decimal_string(),
                "status": [before, after],
            }),
        )?;
        ids.push(aid);
    }
    tx.execute(
        "UPDATE payments SET status='matched', unallocated_minor=unallocated_minor-?3, match_result=coalesce(?4, match_result), updated_at=?5
         WHERE tenant_id=?1 AND id=?2",
        params![t, id, total, result.map(|r| r.to_string()), now],
    )?;
    let learned: Option<(String, String)> = match learn {
        LearnIban::No => None,
        LearnIban::Customer { iban, customer } => Some((iban.to_string(), customer.to_string())),
        LearnIban::FromInvoices => match &payment.counterparty_iban {
            Some(iban) => {
                let mut customers = std::collections::BTreeSet::new();
                for a in allocations {
                    let c: Option<String> = tx
                        .query_row(
                            "SELECT customer_id FROM invoices WHERE tenant_id=?1 AND number=?2",
                            (t, &a.invoice),
                            |r| r.get(0),
                        )
                        .optional()?;
                    customers.extend(c);
                }
                // One payer, one customer: a shared account paying for several customers teaches nothing.
                match (customers.len(), customers.into_iter().next()) {
                    (1, Some(c)) => Some((iban.clone(), c)),
                    _ => None,
                }
            }
            None => None,
        },
    };
    if let Some((iban, customer)) = &learned {
        tx.execute(
            "INSERT OR IGNORE INTO customer_ibans (tenant_id, iban, customer_id, origin, created_at) VALUES (?1,?2,?3,'learned',?4)",
            params![t, iban, customer, now],
        )?;
    }
    insert_event(
        tx,
        t,
        actor,
        "payment_applied",
        &format!("payment:{id}"),
        &json!({ "allocations": ids, "reasons": result }),
    )?;
    Ok(ids)
}
