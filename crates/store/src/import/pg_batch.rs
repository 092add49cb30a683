//! A batch of an import on PostgreSQL (issue #17): set-based instead of row
//! by row.
//!
//! Row by row, each record would cost PostgreSQL a round trip or two (a
//! network hop and a statement each), where SQLite's cost a function call.
//! So a batch is written to temporary staging tables with one binary `COPY`
//! each, then applied with a few statements over whole sets:
//!
//! - customers: the stored rows of the batch's customers are read in one
//!   join, merged in Rust (the same rules as row by row), and written back
//!   with one `INSERT … SELECT` and one `UPDATE … FROM`; their IBANs with
//!   one `INSERT … SELECT … ON CONFLICT DO NOTHING`;
//! - invoices: the new ones are inserted with one `INSERT … SELECT … ON
//!   CONFLICT DO NOTHING RETURNING number`; when some were not new, the
//!   stored rows of the others (and which have pending allocations) are read
//!   in one join each, and those records go through the same per-record
//!   rules as on SQLite (`update_existing`), which write only what changed;
//!   a full export's unchanged invoices are touched with one `UPDATE`.
//!
//! A large load into a small table also drops the secondary indexes of
//! `invoices` until it ends, as on SQLite (`bulk.rs`).
//!
//! The staging tables are temporary (one set per connection), emptied at
//! every commit (`ON COMMIT DELETE ROWS`), and each is filled at most once
//! per transaction, so a retried transaction (SERIALIZABLE) starts from
//! empty ones. Everything runs in the batch's transaction: the claim of the
//! range, and the idempotency it gives, are unchanged.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use tokio_postgres::types::Type;

use super::{
    Change, Existing, ImportState, SELECT_INVOICE, existing_from, incoming_new, merge_customer, packed_invoice,
    stored_customer, update_existing,
};
use crate::StoreError;
use crate::db::{Db, Value, args};
use crate::postgres::PgConn;
use crate::reflection;
use relance_domain::{CustomerRecord, InvoiceRecord};

/// The staging tables, created once per connection (again after a rollback
/// of the transaction that created them).
const STAGING: &str = "
    SET LOCAL client_min_messages = warning;
    CREATE TEMP TABLE IF NOT EXISTS relance_stage_keys (key TEXT NOT NULL) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS relance_stage_customers (
        id TEXT NOT NULL, name TEXT NOT NULL, emails TEXT NOT NULL, phones TEXT NOT NULL,
        segment TEXT, language TEXT, address TEXT, is_new BIGINT NOT NULL) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS relance_stage_ibans (iban TEXT NOT NULL, customer_id TEXT NOT NULL)
        ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS relance_stage_invoices (
        seq BIGINT NOT NULL, number TEXT NOT NULL, customer_id TEXT NOT NULL, issue_date TEXT,
        due_date TEXT NOT NULL, currency TEXT NOT NULL, total_minor BIGINT NOT NULL,
        open_minor BIGINT NOT NULL, status TEXT NOT NULL) ON COMMIT DELETE ROWS;";

/// Creates the staging tables if this connection has none (one round trip;
/// `SET LOCAL` first, so that "already exists, skipping" is not sent back).
fn staging(pg: &PgConn) -> Result<(), StoreError> {
    pg.batch(STAGING)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

/// Merges `customers` into the store (see `super::upsert_customers` for the rules).
pub(super) fn upsert_customers(
    db: Db<'_>,
    pg: &PgConn,
    tenant: &str,
    customers: &[CustomerRecord],
    now: &str,
) -> Result<(), StoreError> {
    if customers.is_empty() {
        return Ok(());
    }
    staging(pg)?;
    let keys: Vec<Vec<Value>> = customers.iter().map(|c| vec![text(&c.id)]).collect();
    pg.copy_values("relance_stage_keys", &["key"], &[Type::TEXT], &keys)?;
    let mut stored: HashMap<String, CustomerRecord> = HashMap::new();
    for r in db.query(
        "SELECT c.id, c.name, c.emails, c.phones, c.segment, c.language, c.address
         FROM customers c JOIN relance_stage_keys k ON c.id = k.key WHERE c.tenant_id = ?1",
        args![tenant],
    )? {
        let id: String = r.get(0)?;
        let (emails, phones): (String, String) = (r.get(2)?, r.get(3)?);
        let c = stored_customer(&id, r.get(1)?, &emails, &phones, r.get(4)?, r.get(5)?, r.get(6)?);
        stored.insert(id, c);
    }
    let mut rows = Vec::with_capacity(customers.len());
    let mut ibans = Vec::new();
    for c in customers {
        match stored.get(&c.id) {
            None => rows.push(customer_row(c, true)),
            Some(before) => {
                let mut merged = before.clone();
                merge_customer(&mut merged, c);
                if merged != *before {
                    rows.push(customer_row(&merged, false));
                }
            }
        }
        for i in &c.ibans {
            ibans.push(vec![text(i), text(&c.id)]);
        }
    }
    if !rows.is_empty() {
        pg.copy_values(
            "relance_stage_customers",
            &["id", "name", "emails", "phones", "segment", "language", "address", "is_new"],
            &[Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8],
            &rows,
        )?;
        db.execute(
            "INSERT INTO customers (tenant_id, id, name, emails, phones, segment, language, created_at, updated_at, address)
             SELECT CAST(?1 AS TEXT), id, name, emails, phones, segment, language, CAST(?2 AS TEXT), CAST(?2 AS TEXT), address
             FROM relance_stage_customers WHERE is_new = 1",
            args![tenant, now],
        )?;
        db.execute(
            "UPDATE customers SET name = s.name, emails = s.emails, phones = s.phones, segment = s.segment,
                    language = s.language, updated_at = CAST(?2 AS TEXT), address = s.address
             FROM relance_stage_customers s
             WHERE s.is_new = 0 AND customers.tenant_id = ?1 AND customers.id = s.id",
            args![tenant, now],
        )?;
    }
    if !ibans.is_empty() {
        pg.copy_values("relance_stage_ibans", &["iban", "customer_id"], &[Type::TEXT, Type::TEXT], &ibans)?;
        db.execute(
            "INSERT INTO customer_ibans (tenant_id, iban, customer_id, origin, created_at)
             SELECT CAST(?1 AS TEXT), iban, customer_id, 'source', CAST(?2 AS TEXT) FROM relance_stage_ibans
             ON CONFLICT DO NOTHING",
            args![tenant, now],
        )?;
    }
    Ok(())
}

fn customer_row(c: &CustomerRecord, is_new: bool) -> Vec<Value> {
    vec![
        text(&c.id),
        text(&c.name),
        Value::Text(json!(c.emails).to_string()),
        Value::Text(json!(c.phones).to_string()),
        opt_text(c.segment.as_deref()),
        opt_text(c.language.map(|l| l.as_str())),
        opt_text(c.address.as_deref()),
        Value::Int(i64::from(is_new)),
    ]
}

/// Applies `records` (in number order); returns each one's change.
pub(super) fn upsert_invoices(
    db: Db<'_>,
    pg: &PgConn,
    state: &ImportState,
    records: &[&InvoiceRecord],
    now: &str,
    imported: &mut Vec<crate::events::PackedInvoice>,
) -> Result<Vec<Change>, StoreError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let tenant = state.tenant.as_str();
    staging(pg)?;
    let news: Vec<Existing> = records.iter().map(|r| incoming_new(r)).collect();
    let mut rows = Vec::with_capacity(records.len());
    for (seq, (rec, new)) in records.iter().zip(&news).enumerate() {
        rows.push(vec![
            Value::Int(i64::try_from(seq).unwrap_or(i64::MAX)),
            text(&rec.number),
            text(&new.customer_id),
            opt_text(new.issue_date.as_deref()),
            text(&new.due_date),
            text(&new.currency),
            Value::Int(new.total_minor),
            Value::Int(new.open_minor),
            text(&new.status),
        ]);
    }
    pg.copy_values(
        "relance_stage_invoices",
        &["seq", "number", "customer_id", "issue_date", "due_date", "currency", "total_minor", "open_minor", "status"],
        &[Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8, Type::INT8, Type::TEXT],
        &rows,
    )?;
    drop(rows);
    // The first record of each number not stored yet is inserted (a later
    // one of the same number is then an update, as row by row).
    let created: HashSet<String> = db
        .query(
            "INSERT INTO invoices (tenant_id, number, customer_id, issue_date, due_date, currency, total_minor,
                                   open_minor, status, source, last_import, created_at, updated_at, erp_open_minor)
             SELECT DISTINCT ON (number) CAST(?1 AS TEXT), number, customer_id, issue_date, due_date, currency,
                    total_minor, open_minor, status, CAST(?2 AS TEXT), CAST(?3 AS INTEGER), CAST(?4 AS TEXT),
                    CAST(?4 AS TEXT), open_minor
             FROM relance_stage_invoices ORDER BY number, seq
             ON CONFLICT (tenant_id, number) DO NOTHING RETURNING number",
            args![tenant, state.source, state.id, now],
        )?
        .into_iter()
        .map(|r| r.get(0))
        .collect::<Result<_, _>>()?;
    // What the store had of the others (the insert left them as they were),
    // and which of them have pending allocations: nothing to read when the
    // whole batch was new (a first load).
    let mut existing: HashMap<String, Existing> = HashMap::new();
    let mut with_pending: HashSet<String> = HashSet::new();
    if created.len() < records.len() {
        for r in db.query(
            "SELECT i.number, i.customer_id, i.issue_date, i.due_date, i.currency, i.total_minor, i.open_minor,
                    i.status, i.erp_open_minor
             FROM invoices i WHERE i.tenant_id = ?1 AND i.number IN (SELECT number FROM relance_stage_invoices)",
            args![tenant],
        )? {
            let number: String = r.get(0)?;
            if !created.contains(&number) {
                existing.insert(number, existing_from(&r, 1)?);
            }
        }
        for r in db.query(
            "SELECT DISTINCT invoice_number FROM allocations
             WHERE tenant_id = ?1 AND erp_state = 'pending' AND undone_at IS NULL
               AND invoice_number IN (SELECT number FROM relance_stage_invoices)",
            args![tenant],
        )? {
            with_pending.insert(r.get(0)?);
        }
    }
    let mut changes = Vec::with_capacity(records.len());
    let mut seen: HashSet<&str> = HashSet::with_capacity(records.len());
    for (rec, new) in records.iter().zip(&news) {
        let first = seen.insert(rec.number.as_str());
        if first && created.contains(&rec.number) {
            imported.push(packed_invoice(rec, new, false));
            changes.push(Change::Created);
            continue;
        }
        let old = match existing.remove(&rec.number) {
            Some(old) if first => old,
            _ => existing_from(&db.query_one(SELECT_INVOICE, args![tenant, rec.number])?, 0)?,
        };
        let pending = if with_pending.contains(&rec.number) {
            reflection::pending_allocations(db, tenant, &rec.number)?
        } else {
            Vec::new()
        };
        // A full export's unchanged invoices are touched below, all at once.
        changes.push(update_existing(db, state, rec, old, &pending, now, imported, false)?);
    }
    if state.full_export && changes.iter().any(|c| matches!(c, Change::Unchanged)) {
        db.execute(
            "UPDATE invoices SET last_import = ?1
             WHERE tenant_id = ?2 AND number IN (SELECT number FROM relance_stage_invoices)
               AND (last_import IS NULL OR last_import <> ?1)",
            args![state.id, tenant],
        )?;
    }
    Ok(changes)
}
