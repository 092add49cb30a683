//! Credits applied to invoices, or sent to review, a set at a time (issues
//! #16 and #17: 100,000 credits against 1M invoices in seconds, on either
//! database).
//!
//! One credit applied row by row costs a dozen statements and a commit: on
//! SQLite the commit dominates, on PostgreSQL each statement is a round
//! trip. So a set of decisions is applied in one transaction in three
//! steps:
//!
//! 1. **read** everything the set touches with a few statements: its
//!    payments, the invoices it names (with their pending allocations), the
//!    holds waiting for its payments;
//! 2. **decide** in memory, decision by decision in order, with the rules
//!    of a single application: a decision that does not fit (the payment
//!    moved on, an invoice has less open than asked…) is refused with the
//!    reason, leaves nothing behind, and the next one sees the state as if
//!    it had never been asked;
//! 3. **write** what was decided: row by row on SQLite (a function call
//!    each), one statement per table on PostgreSQL (`unnest` of arrays).
//!
//! [`Store::apply_payment`] is a set of one: there is one implementation of
//! the rules.

use std::collections::{BTreeSet, HashMap};

use serde_json::json;

use crate::db::{Db, Value, args};
use crate::events::EventType;
use crate::payments::{AllocationRequest, LearnIban, MATCH_RESULT_VERSION, encode_match_result, match_result_event};
use crate::reflection::{effective_open, status_for};
use crate::{Store, StoreError, now_text};
use relance_domain::money::{Currency, Money};
use relance_domain::{InvoiceStatus, PaymentStatus, TenantId};
use relance_engine::matching::MatchResult;

/// Keys per `IN (…)` list when reading a set.
const KEYS_PER_READ: usize = 500;

/// One decision about one payment.
#[derive(Debug, Clone)]
pub enum CreditDecision<'a> {
    /// Apply these allocations to the payment, if its status is one of `from`.
    Apply {
        payment: i64,
        from: &'a [PaymentStatus],
        allocations: Vec<AllocationRequest>,
        actor: &'a str,
        /// The matcher's result the decision was made from (kept on the payment).
        result: Option<&'a MatchResult>,
        learn: LearnIban<'a>,
    },
    /// The matcher's verdict on a payment it did not apply: `suggested` or
    /// `unmatched`; only a payment still `new` or `unmatched` changes.
    Review { payment: i64, status: PaymentStatus, result: &'a MatchResult },
}

/// What became of one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditOutcome {
    /// Applied: the allocation ids.
    Applied(Vec<i64>),
    /// Sent to review (`true`), or left as it was (the payment had moved on).
    Reviewed(bool),
    /// Refused, with the reason; nothing was written for it.
    Refused(String),
}

impl Store {
    /// Applies a set of decisions in one transaction, in order (see the
    /// module documentation). Exactly once whatever runs concurrently, as a
    /// single application: SQLite has one writer; on PostgreSQL the
    /// transaction is `SERIALIZABLE` and run again on a conflict, when it
    /// reads the payments afresh.
    pub fn apply_credit_decisions(
        &self,
        tenant: &TenantId,
        decisions: &[CreditDecision<'_>],
    ) -> Result<Vec<CreditOutcome>, StoreError> {
        if decisions.is_empty() {
            return Ok(Vec::new());
        }
        // Encoded once, outside the transaction (which may run again).
        let encoded: Vec<Option<String>> = decisions
            .iter()
            .map(|d| match d {
                CreditDecision::Apply { result, .. } => result.map(encode_match_result).transpose(),
                CreditDecision::Review { result, .. } => encode_match_result(result).map(Some),
            })
            .collect::<Result<_, _>>()?;
        self.db.write_any(|db| {
            if let Db::Postgres(conn) = db {
                // A generic plan of `id IN ($2, …, $501)` scans the table and
                // compares each row with the list; planned with the keys it
                // looks them up in the index.
                conn.batch("SET LOCAL plan_cache_mode = force_custom_plan")?;
            }
            let state = read_state(db, tenant.as_str(), decisions)?;
            let mut plan = Plan::new(db, tenant.as_str(), state, count_allocations(decisions))?;
            let outcomes = decisions
                .iter()
                .zip(&encoded)
                .map(|(d, text)| plan.decide(d, text.as_deref()))
                .collect::<Result<Vec<_>, _>>()?;
            plan.write(db)?;
            Ok(outcomes)
        })
    }
}

fn count_allocations(decisions: &[CreditDecision<'_>]) -> usize {
    decisions
        .iter()
        .map(|d| match d {
            CreditDecision::Apply { allocations, .. } => allocations.len(),
            CreditDecision::Review { .. } => 0,
        })
        .sum()
}

/// A payment as the set sees it.
#[derive(Debug, Clone)]
struct PaymentState {
    status: PaymentStatus,
    currency: Currency,
    unallocated: i64,
    counterparty_iban: Option<String>,
}

/// An invoice as the set sees it.
#[derive(Debug, Clone)]
struct InvoiceState {
    customer: String,
    currency: String,
    total: i64,
    erp_open: i64,
    /// The effective open amount (stored `open_minor`, then as decided).
    open: i64,
    status: String,
    /// What the ERP has still to reflect of the pending allocations.
    pending: i64,
}

/// Everything a set reads before deciding.
struct State {
    payments: HashMap<i64, PaymentState>,
    invoices: HashMap<String, InvoiceState>,
    /// Credit-review holds in force, by payment: (hold id, customer).
    holds: HashMap<i64, Vec<(i64, String)>>,
}

fn read_state(db: Db<'_>, t: &str, decisions: &[CreditDecision<'_>]) -> Result<State, StoreError> {
    let mut payment_ids: Vec<i64> = decisions
        .iter()
        .map(|d| match d {
            CreditDecision::Apply { payment, .. } | CreditDecision::Review { payment, .. } => *payment,
        })
        .collect();
    payment_ids.sort_unstable();
    payment_ids.dedup();
    let numbers: BTreeSet<&str> = decisions
        .iter()
        .flat_map(|d| match d {
            CreditDecision::Apply { allocations, .. } => allocations.iter().map(|a| a.invoice.as_str()).collect(),
            CreditDecision::Review { .. } => Vec::new(),
        })
        .collect();
    let numbers: Vec<&str> = numbers.into_iter().collect();
    let mut state = State { payments: HashMap::new(), invoices: HashMap::new(), holds: HashMap::new() };
    for chunk in payment_ids.chunks(KEYS_PER_READ) {
        let chunk = &padded(chunk);
        let sql = format!(
            "SELECT id, status, currency, unallocated_minor, counterparty_iban FROM payments WHERE tenant_id=?1 AND id IN ({})",
            placeholders(2, chunk.len())
        );
        db.query_each(&sql, &keyed(t, chunk.iter().map(|k| Value::Int(*k))), |r| {
            let id: i64 = r.get(0)?;
            let status: String = r.take(1)?;
            let currency: String = r.take(2)?;
            state.payments.insert(
                id,
                PaymentState {
                    status: status
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("payment {id}: status `{status}`")))?,
                    currency: Currency::parse(&currency)
                        .map_err(|e| StoreError::Corrupt(format!("payment {id}: {e}")))?,
                    unallocated: r.get(3)?,
                    counterparty_iban: r.take(4)?,
                },
            );
            Ok(())
        })?;
        let sql = format!(
            "SELECT payment_id, id, customer_id FROM holds
             WHERE tenant_id=?1 AND kind='credit_review' AND lifted_at IS NULL AND payment_id IN ({}) ORDER BY id",
            placeholders(2, chunk.len())
        );
        db.query_each(&sql, &keyed(t, chunk.iter().map(|k| Value::Int(*k))), |r| {
            state.holds.entry(r.get(0)?).or_default().push((r.get(1)?, r.take(2)?));
            Ok(())
        })?;
    }
    for chunk in numbers.chunks(KEYS_PER_READ) {
        let chunk = &padded(chunk);
        let sql = format!(
            "SELECT number, customer_id, currency, total_minor, erp_open_minor, open_minor, status FROM invoices
             WHERE tenant_id=?1 AND number IN ({})",
            placeholders(2, chunk.len())
        );
        db.query_each(&sql, &keyed(t, chunk.iter().map(|k| Value::Text(k.to_string()))), |r| {
            let number: String = r.take(0)?;
            let invoice = InvoiceState {
                customer: r.take(1)?,
                currency: r.take(2)?,
                total: r.get(3)?,
                erp_open: r.get(4)?,
                open: r.get(5)?,
                status: r.take(6)?,
                pending: 0,
            };
            state.invoices.insert(number, invoice);
            Ok(())
        })?;
        // What the ERP has still to reflect (as `reflection::pending_allocations`).
        let sql = format!(
            "SELECT invoice_number, id, amount_minor, write_off_minor, reflected_minor FROM allocations
             WHERE tenant_id=?1 AND erp_state='pending' AND undone_at IS NULL AND invoice_number IN ({})",
            placeholders(2, chunk.len())
        );
        db.query_each(&sql, &keyed(t, chunk.iter().map(|k| Value::Text(k.to_string()))), |r| {
            let number: String = r.take(0)?;
            let (id, amount, write_off, reflected): (i64, i64, i64, i64) = (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
            let left = crate::reflection::left_to_reflect(id, amount, write_off, reflected)?;
            if let Some(inv) = state.invoices.get_mut(&number) {
                inv.pending = inv
                    .pending
                    .checked_add(left)
                    .ok_or_else(|| StoreError::Corrupt("pending allocations overflow".into()))?;
            }
            Ok(())
        })?;
    }
    Ok(state)
}

/// A chunk of keys padded (with its last key again) to one of a few sizes,
/// so that PostgreSQL connections prepare a few statements, not one per size.
fn padded<T: Clone>(chunk: &[T]) -> Vec<T> {
    let size = [1, 8, 64, KEYS_PER_READ].into_iter().find(|s| *s >= chunk.len()).unwrap_or(chunk.len());
    let mut keys = chunk.to_vec();
    if let Some(last) = chunk.last() {
        keys.resize(size, last.clone());
    }
    keys
}

/// `?from, ?from+1, …` for `n` keys.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("?{i}")).collect::<Vec<_>>().join(",")
}

fn keyed(t: &str, keys: impl Iterator<Item = Value>) -> Vec<Value> {
    std::iter::once(Value::Text(t.to_string())).chain(keys).collect()
}

/// One allocation to insert.
struct NewAllocation {
    id: i64,
    payment: i64,
    invoice: String,
    amount: i64,
    write_off: i64,
    currency: String,
    actor: String,
}

/// One audit row to insert (and its catalogue event, when it has one).
struct Audit {
    actor: String,
    kind: &'static str,
    subject: String,
    data: String,
    /// The catalogue's event riding on it: type and customer.
    event: Option<(EventType, Option<String>)>,
}

/// A payment row to update.
struct PaymentUpdate {
    id: i64,
    status: PaymentStatus,
    unallocated: i64,
    /// A new match result (its text), or the stored one kept.
    result: Option<String>,
}

/// What the set decided to write.
struct Plan {
    t: String,
    now: String,
    state: State,
    /// Allocation ids reserved for the set, used in order.
    ids: std::vec::IntoIter<i64>,
    allocations: Vec<NewAllocation>,
    /// Invoices changed: number → (open, status), the last state wins.
    invoices: HashMap<String, (i64, String)>,
    payments: Vec<PaymentUpdate>,
    /// Where each payment's update is in `payments`.
    payment_index: HashMap<i64, usize>,
    /// Holds lifted: (id, note).
    holds: Vec<(i64, String)>,
    ibans: Vec<(String, String)>,
    audit: Vec<Audit>,
}

impl Plan {
    fn new(db: Db<'_>, t: &str, state: State, allocations: usize) -> Result<Plan, StoreError> {
        let ids = reserve_allocation_ids(db, allocations)?;
        Ok(Plan {
            t: t.to_string(),
            now: now_text(),
            state,
            ids: ids.into_iter(),
            allocations: Vec::new(),
            invoices: HashMap::new(),
            payments: Vec::new(),
            payment_index: HashMap::new(),
            holds: Vec::new(),
            ibans: Vec::new(),
            audit: Vec::new(),
        })
    }

    fn decide(&mut self, d: &CreditDecision<'_>, result_text: Option<&str>) -> Result<CreditOutcome, StoreError> {
        match d {
            CreditDecision::Apply { payment, from, allocations, actor, result, learn } => {
                match self.apply(*payment, from, allocations, actor, *result, result_text, *learn) {
                    Ok(ids) => Ok(CreditOutcome::Applied(ids)),
                    Err(StoreError::Rejected(why)) => Ok(CreditOutcome::Refused(why)),
                    Err(e) => Err(e),
                }
            }
            CreditDecision::Review { payment, status, result } => {
                self.review(*payment, *status, result, result_text).map(CreditOutcome::Reviewed)
            }
        }
    }

    fn review(
        &mut self,
        id: i64,
        status: PaymentStatus,
        result: &MatchResult,
        text: Option<&str>,
    ) -> Result<bool, StoreError> {
        if !status.in_review() {
            return Ok(false);
        }
        let Some(p) = self.state.payments.get_mut(&id) else { return Ok(false) };
        if !matches!(p.status, PaymentStatus::New | PaymentStatus::Unmatched) {
            return Ok(false);
        }
        let before = p.status;
        p.status = status;
        let unallocated = p.unallocated;
        self.update_payment(PaymentUpdate { id, status, unallocated, result: text.map(str::to_string) });
        // A re-match that changes nothing is not news.
        if before != status {
            self.audit.push(Audit {
                actor: "matcher".into(),
                kind: if status == PaymentStatus::Suggested { "payment_suggested" } else { "payment_unmatched" },
                subject: format!("payment:{id}"),
                data: match_result_event(result)?.to_string(),
                event: None,
            });
        }
        Ok(true)
    }

    /// The rules of one application (as `Store::apply_payment` states them):
    /// checked in full before anything is planned, so a refusal leaves no trace.
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        id: i64,
        from: &[PaymentStatus],
        allocations: &[AllocationRequest],
        actor: &str,
        result: Option<&MatchResult>,
        result_text: Option<&str>,
        learn: LearnIban<'_>,
    ) -> Result<Vec<i64>, StoreError> {
        let payment = self
            .state
            .payments
            .get(&id)
            .ok_or_else(|| StoreError::Rejected(format!("payment {id} does not exist")))?
            .clone();
        if !from.contains(&payment.status) {
            let from: Vec<&str> = from.iter().map(PaymentStatus::as_str).collect();
            return Err(StoreError::Rejected(format!("payment {id} is {}, not {}", payment.status, from.join(" or "))));
        }
        let ccy = payment.currency;
        if allocations.is_empty() {
            return Err(StoreError::Rejected("no allocation given".into()));
        }
        let total = allocations
            .iter()
            .try_fold(0i64, |sum, a| sum.checked_add(a.amount.minor))
            .ok_or_else(|| StoreError::Rejected("the allocations' total overflows".into()))?;
        if allocations.iter().any(|a| a.amount.minor == 0 || a.amount.currency != ccy) {
            return Err(StoreError::Rejected(format!("allocations must be non-zero amounts in {ccy}")));
        }
        if total <= 0 {
            return Err(StoreError::Rejected(format!(
                "allocations total {}: the invoices must account for more than the credit notes offset",
                Money::new(total, ccy).to_decimal_string()
            )));
        }
        if total > payment.unallocated {
            return Err(StoreError::Rejected(format!(
                "allocations total {} but only {} of the payment is unallocated",
                Money::new(total, ccy).to_decimal_string(),
                Money::new(payment.unallocated, ccy).to_decimal_string()
            )));
        }
        check_credit_note_offsets(&self.state.invoices, payment.unallocated, ccy, allocations, total)?;
        // Every allocation checked against the invoices as the earlier ones leave them.
        let mut after: HashMap<&str, InvoiceState> = HashMap::new();
        let mut steps = Vec::with_capacity(allocations.len());
        for a in allocations {
            let inv = match after.get(a.invoice.as_str()) {
                Some(i) => i.clone(),
                None => self
                    .state
                    .invoices
                    .get(&a.invoice)
                    .cloned()
                    .ok_or_else(|| StoreError::Rejected(format!("invoice {} does not exist", a.invoice)))?,
            };
            let take =
                a.amount.minor.checked_add(a.write_off.map_or(0, |w| w.minor)).ok_or_else(|| {
                    StoreError::Rejected(format!("invoice {}: amount and write-off overflow", a.invoice))
                })?;
            if inv.currency != ccy.code() {
                return Err(StoreError::Rejected(format!(
                    "invoice {} is in {}, the payment in {ccy}",
                    a.invoice, inv.currency
                )));
            }
            // A credit note's offset (negative) takes at most its open amount (negative too).
            let too_much = if a.amount.minor < 0 { take < inv.open } else { take > inv.open };
            if too_much {
                return Err(StoreError::Rejected(format!(
                    "invoice {} has {} open, cannot apply {}",
                    a.invoice,
                    Money::new(inv.open, a.amount.currency).to_decimal_string(),
                    Money::new(take, a.amount.currency).to_decimal_string()
                )));
            }
            // Pending in the ERP until it reflects it: the invoice's open amount is the ERP's less it.
            let left = a
                .amount
                .minor
                .checked_abs()
                .and_then(|m| m.checked_add(a.write_off.map_or(0, |w| w.minor)))
                .filter(|l| *l >= 0)
                .ok_or_else(|| StoreError::Rejected(format!("invoice {}: amounts out of range", a.invoice)))?;
            let mut next = inv.clone();
            next.pending = next
                .pending
                .checked_add(left)
                .ok_or_else(|| StoreError::Rejected(format!("invoice {}: pending amounts overflow", a.invoice)))?;
            next.open = effective_open(next.erp_open, next.pending);
            next.status = status_for(inv.status.parse().ok(), next.total, next.open).as_str().to_string();
            steps.push((inv.status.clone(), next.clone()));
            after.insert(a.invoice.as_str(), next);
        }
        // Decided: plan the writes.
        let mut ids = Vec::with_capacity(allocations.len());
        for (a, (before, inv)) in allocations.iter().zip(steps) {
            let aid = self.ids.next().ok_or_else(|| StoreError::Corrupt("allocation ids exhausted".into()))?;
            self.allocations.push(NewAllocation {
                id: aid,
                payment: id,
                invoice: a.invoice.clone(),
                amount: a.amount.minor,
                write_off: a.write_off.map_or(0, |w| w.minor),
                currency: inv.currency.clone(),
                actor: actor.to_string(),
            });
            let data = json!({
                "allocation": aid, "payment": id, "amount": a.amount.to_decimal_string(),
                "write_off": a.write_off.map(|w| w.to_decimal_string()),
                "amount_open": Money::new(inv.open, a.amount.currency).to_decimal_string(),
                "status": [before, inv.status],
                "credit_note": a.amount.minor < 0,
            });
            self.audit.push(Audit {
                actor: actor.to_string(),
                kind: "allocation_applied",
                subject: format!("invoice:{}", a.invoice),
                data: data.to_string(),
                event: Some((EventType::PaymentApplied, Some(inv.customer.clone()))),
            });
            self.invoices.insert(a.invoice.clone(), (inv.open, inv.status.clone()));
            self.state.invoices.insert(a.invoice.clone(), inv);
            ids.push(aid);
        }
        let unallocated = payment.unallocated - total;
        if let Some(p) = self.state.payments.get_mut(&id) {
            p.status = PaymentStatus::Matched;
            p.unallocated = unallocated;
        }
        self.update_payment(PaymentUpdate {
            id,
            status: PaymentStatus::Matched,
            unallocated,
            result: result_text.map(str::to_string),
        });
        let note = format!("credit #{id} applied by {actor}");
        for (hold, customer) in self.state.holds.remove(&id).unwrap_or_default() {
            self.holds.push((hold, note.clone()));
            self.audit.push(Audit {
                actor: crate::credit_holds::RELANCE_ACTOR.to_string(),
                kind: "hold_lifted",
                subject: format!("customer:{customer}"),
                data: json!({ "hold": hold, "customer": customer, "invoice": null, "note": note, "payment": id })
                    .to_string(),
                event: None,
            });
        }
        let learned = match learn {
            LearnIban::No => None,
            LearnIban::Customer { iban, customer } => Some((iban.to_string(), customer.to_string())),
            LearnIban::FromInvoices => payment.counterparty_iban.as_ref().and_then(|iban| {
                let customers: BTreeSet<&str> = allocations
                    .iter()
                    .filter_map(|a| self.state.invoices.get(&a.invoice).map(|i| i.customer.as_str()))
                    .collect();
                // One payer, one customer: a shared account paying for several customers teaches nothing.
                match (customers.len(), customers.into_iter().next()) {
                    (1, Some(c)) => Some((iban.clone(), c.to_string())),
                    _ => None,
                }
            }),
        };
        self.ibans.extend(learned);
        self.audit.push(Audit {
            actor: actor.to_string(),
            kind: "payment_applied",
            subject: format!("payment:{id}"),
            data: json!({ "allocations": ids, "reasons": result.map(match_result_event).transpose()? }).to_string(),
            event: None,
        });
        Ok(ids)
    }

    /// One update per payment: a later decision on the same payment
    /// updates its row again, keeping the earlier result when it has none.
    fn update_payment(&mut self, u: PaymentUpdate) {
        match self.payment_index.get(&u.id) {
            Some(&i) => {
                let earlier = &mut self.payments[i];
                earlier.status = u.status;
                earlier.unallocated = u.unallocated;
                if u.result.is_some() {
                    earlier.result = u.result;
                }
            }
            None => {
                self.payment_index.insert(u.id, self.payments.len());
                self.payments.push(u);
            }
        }
    }

    fn write(self, db: Db<'_>) -> Result<(), StoreError> {
        match db {
            Db::Postgres(conn) => self.write_postgres(conn),
            Db::Sqlite(_) => self.write_rows(db),
        }
    }

    /// Row by row (SQLite: each statement a function call).
    fn write_rows(self, db: Db<'_>) -> Result<(), StoreError> {
        let (t, now) = (self.t.as_str(), self.now.as_str());
        for a in &self.allocations {
            db.execute(
                "INSERT INTO allocations (id, tenant_id, payment_id, invoice_number, amount_minor, write_off_minor, currency, actor, created_at, erp_state)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,'pending')",
                args![a.id, t, a.payment, a.invoice, a.amount, a.write_off, a.currency, a.actor, now],
            )?;
            db.execute(
                "INSERT INTO writeback_queue (tenant_id, allocation_id, created_at) VALUES (?1,?2,?3)",
                args![t, a.id, now],
            )?;
        }
        for (number, (open, status)) in &self.invoices {
            db.execute(
                "UPDATE invoices SET open_minor=?3, status=?4, updated_at=?5 WHERE tenant_id=?1 AND number=?2",
                args![t, number, open, status, now],
            )?;
        }
        for p in &self.payments {
            db.execute(
                "UPDATE payments SET status=?3, unallocated_minor=?4, match_result=coalesce(?5, match_result),
                        match_result_version=coalesce(?6, match_result_version), updated_at=?7
                 WHERE tenant_id=?1 AND id=?2",
                args![
                    t,
                    p.id,
                    p.status.as_str(),
                    p.unallocated,
                    p.result,
                    p.result.as_ref().map(|_| MATCH_RESULT_VERSION),
                    now
                ],
            )?;
        }
        self.write_holds(db)?;
        for (iban, customer) in &self.ibans {
            db.execute(
                "INSERT OR IGNORE INTO customer_ibans (tenant_id, iban, customer_id, origin, created_at) VALUES (?1,?2,?3,'learned',?4)",
                args![t, iban, customer, now],
            )?;
        }
        for a in &self.audit {
            db.execute(
                "INSERT INTO audit_events (tenant_id, at, actor, kind, subject, data) VALUES (?1,?2,?3,?4,?5,?6)",
                args![t, now, a.actor, a.kind, a.subject, a.data],
            )?;
            if let Some((ty, customer)) = &a.event {
                db.execute(
                    "INSERT INTO domain_events (tenant_id, type, schema_version, customer_id, subject, occurred_at, data)
                     VALUES (?1,?2,?3,?4,?5,?6,?7)",
                    args![t, ty.name(), crate::events::EVENT_SCHEMA_VERSION, customer, a.subject, now, a.data],
                )?;
            }
        }
        Ok(())
    }

    /// Lifted holds are rare: row by row on either database.
    fn write_holds(&self, db: Db<'_>) -> Result<(), StoreError> {
        for (id, note) in &self.holds {
            db.execute(
                "UPDATE holds SET lifted_by=?3, lifted_at=?4, lift_note=?5 WHERE tenant_id=?1 AND id=?2 AND lifted_at IS NULL",
                args![self.t, id, crate::credit_holds::RELANCE_ACTOR, self.now, note],
            )?;
        }
        Ok(())
    }

    /// One statement per table (PostgreSQL: a round trip each).
    fn write_postgres(self, conn: &crate::postgres::PgConn) -> Result<(), StoreError> {
        let (t, now) = (self.t.as_str(), self.now.as_str());
        if !self.allocations.is_empty() {
            let col = |f: fn(&NewAllocation) -> i64| self.allocations.iter().map(f).collect::<Vec<i64>>();
            let text = |f: fn(&NewAllocation) -> &str| self.allocations.iter().map(f).collect::<Vec<&str>>();
            let (ids, payments, amounts, write_offs) =
                (col(|a| a.id), col(|a| a.payment), col(|a| a.amount), col(|a| a.write_off));
            let (invoices, currencies, actors) =
                (text(|a| a.invoice.as_str()), text(|a| a.currency.as_str()), text(|a| a.actor.as_str()));
            conn.query(
                "INSERT INTO allocations (id, tenant_id, payment_id, invoice_number, amount_minor, write_off_minor, currency, actor, created_at, erp_state)
                 SELECT u.id, $1, u.payment, u.invoice, u.amount, u.write_off, u.currency, u.actor, $2, 'pending'
                 FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::text[])
                      AS u(id, payment, invoice, amount, write_off, currency, actor)",
                &[&t, &now, &ids, &payments, &invoices, &amounts, &write_offs, &currencies, &actors],
            )?;
            conn.query(
                "INSERT INTO writeback_queue (tenant_id, allocation_id, created_at)
                 SELECT $1, u.id, $2 FROM unnest($3::bigint[]) WITH ORDINALITY AS u(id, n) ORDER BY u.n",
                &[&t, &now, &ids],
            )?;
        }
        if !self.invoices.is_empty() {
            let numbers: Vec<&str> = self.invoices.keys().map(String::as_str).collect();
            let opens: Vec<i64> = self.invoices.values().map(|v| v.0).collect();
            let statuses: Vec<&str> = self.invoices.values().map(|v| v.1.as_str()).collect();
            conn.query(
                "UPDATE invoices i SET open_minor=u.open, status=u.status, updated_at=$2
                 FROM unnest($3::text[], $4::bigint[], $5::text[]) AS u(number, open, status)
                 WHERE i.tenant_id=$1 AND i.number=u.number",
                &[&t, &now, &numbers, &opens, &statuses],
            )?;
        }
        if !self.payments.is_empty() {
            let ids: Vec<i64> = self.payments.iter().map(|p| p.id).collect();
            let statuses: Vec<&str> = self.payments.iter().map(|p| p.status.as_str()).collect();
            let unallocated: Vec<i64> = self.payments.iter().map(|p| p.unallocated).collect();
            let results: Vec<Option<&str>> = self.payments.iter().map(|p| p.result.as_deref()).collect();
            conn.query(
                "UPDATE payments p SET status=u.status, unallocated_minor=u.unallocated,
                        match_result=coalesce(u.result, p.match_result),
                        match_result_version=CASE WHEN u.result IS NULL THEN p.match_result_version ELSE $3 END,
                        updated_at=$2
                 FROM unnest($4::bigint[], $5::text[], $6::bigint[], $7::text[]) AS u(id, status, unallocated, result)
                 WHERE p.tenant_id=$1 AND p.id=u.id",
                &[&t, &now, &MATCH_RESULT_VERSION, &ids, &statuses, &unallocated, &results],
            )?;
        }
        self.write_holds(Db::Postgres(conn))?;
        if !self.ibans.is_empty() {
            let ibans: Vec<&str> = self.ibans.iter().map(|i| i.0.as_str()).collect();
            let customers: Vec<&str> = self.ibans.iter().map(|i| i.1.as_str()).collect();
            conn.query(
                "INSERT INTO customer_ibans (tenant_id, iban, customer_id, origin, created_at)
                 SELECT $1, u.iban, u.customer, 'learned', $2 FROM unnest($3::text[], $4::text[]) AS u(iban, customer)
                 ON CONFLICT DO NOTHING",
                &[&t, &now, &ibans, &customers],
            )?;
        }
        if !self.audit.is_empty() {
            let actors: Vec<&str> = self.audit.iter().map(|a| a.actor.as_str()).collect();
            let kinds: Vec<&str> = self.audit.iter().map(|a| a.kind).collect();
            let subjects: Vec<&str> = self.audit.iter().map(|a| a.subject.as_str()).collect();
            let data: Vec<&str> = self.audit.iter().map(|a| a.data.as_str()).collect();
            conn.query(
                "INSERT INTO audit_events (tenant_id, at, actor, kind, subject, data)
                 SELECT $1, $2, u.actor, u.kind, u.subject, u.data
                 FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS u(actor, kind, subject, data, n)
                 ORDER BY u.n",
                &[&t, &now, &actors, &kinds, &subjects, &data],
            )?;
            let events: Vec<&Audit> = self.audit.iter().filter(|a| a.event.is_some()).collect();
            if !events.is_empty() {
                let types: Vec<&str> = events.iter().filter_map(|a| a.event.as_ref().map(|e| e.0.name())).collect();
                let customers: Vec<Option<&str>> =
                    events.iter().map(|a| a.event.as_ref().and_then(|e| e.1.as_deref())).collect();
                let subjects: Vec<&str> = events.iter().map(|a| a.subject.as_str()).collect();
                let data: Vec<&str> = events.iter().map(|a| a.data.as_str()).collect();
                let version = i64::from(crate::events::EVENT_SCHEMA_VERSION);
                conn.query(
                    "INSERT INTO domain_events (tenant_id, type, schema_version, customer_id, subject, occurred_at, data)
                     SELECT $1, u.type, $3, u.customer, u.subject, $2, u.data
                     FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY AS u(type, customer, subject, data, n)
                     ORDER BY u.n",
                    &[&t, &now, &version, &types, &customers, &subjects, &data],
                )?;
            }
        }
        Ok(())
    }
}

/// Allocation ids for the set, taken before deciding (the audit rows name
/// them): drawn from the identity sequence on PostgreSQL (concurrent sets
/// get distinct ones; a refused decision leaves a gap), the next ones after
/// the largest on SQLite (one writer).
fn reserve_allocation_ids(db: Db<'_>, n: usize) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let count = i64::try_from(n).map_err(|_| StoreError::Unsupported("too many allocations in one set".into()))?;
    match db {
        Db::Postgres(conn) => conn
            .query(
                "SELECT nextval(pg_get_serial_sequence('allocations', 'id')) FROM generate_series(1, $1::bigint)",
                &[&count],
            )?
            .iter()
            .map(|r| r.try_get::<_, i64>(0).map_err(StoreError::from))
            .collect(),
        Db::Sqlite(_) => {
            let max: i64 = db.query_one("SELECT coalesce(max(id), 0) FROM allocations", args![])?.get(0)?;
            Ok((1..=count).map(|k| max + k).collect())
        }
    }
}

/// A set with negative allocations is a net payment: invoices less open
/// credit notes. Each negative allocation must be on a credit note (status
/// `credit_note`, negative open amount) of a customer whose invoices the set
/// pays, without write-off; a credit note never takes a positive amount;
/// and the set accounts for the whole of what is unallocated of the payment.
fn check_credit_note_offsets(
    invoices: &HashMap<String, InvoiceState>,
    unallocated: i64,
    ccy: Currency,
    allocations: &[AllocationRequest],
    total: i64,
) -> Result<(), StoreError> {
    let mut invoice_customers = BTreeSet::new();
    let mut notes: Vec<(&str, &str)> = Vec::new();
    for a in allocations {
        let inv = invoices
            .get(&a.invoice)
            .ok_or_else(|| StoreError::Rejected(format!("invoice {} does not exist", a.invoice)))?;
        let credit_note = inv.status == InvoiceStatus::CreditNote.as_str() || inv.total < 0;
        match (credit_note, a.amount.minor < 0) {
            (false, false) => {
                invoice_customers.insert(inv.customer.as_str());
            }
            (true, true) => {
                if a.write_off.is_some_and(|w| w.minor != 0) {
                    return Err(StoreError::Rejected(format!("credit note {}: no write-off on an offset", a.invoice)));
                }
                notes.push((a.invoice.as_str(), inv.customer.as_str()));
            }
            (true, false) => {
                return Err(StoreError::Rejected(format!(
                    "{} is a credit note: it is offset by a negative amount",
                    a.invoice
                )));
            }
            (false, true) => {
                return Err(StoreError::Rejected(format!(
                    "invoice {} is not a credit note: a negative amount offsets only a credit note",
                    a.invoice
                )));
            }
        }
    }
    if notes.is_empty() {
        return Ok(());
    }
    if let Some((note, customer)) = notes.iter().find(|(_, c)| !invoice_customers.contains(c)) {
        return Err(StoreError::Rejected(format!(
            "credit note {note} is customer {customer}'s: it offsets only invoices of the same customer"
        )));
    }
    if total != unallocated {
        return Err(StoreError::Rejected(format!(
            "a net payment is applied whole: the allocations total {}, the payment has {} unallocated",
            Money::new(total, ccy).to_decimal_string(),
            Money::new(unallocated, ccy).to_decimal_string()
        )));
    }
    Ok(())
}
