//! Paid stays paid: allocations Relance applied, until the ERP reflects them.
//!
//! Relance lowers an invoice's open amount the moment it applies a payment;
//! the ERP learns of it later (write-back, then its own processing), and
//! meanwhile its exports still show the old open amount. An invoice therefore
//! carries two figures:
//!
//! - `erp_open_minor`, the open amount the ERP last reported;
//! - `open_minor`, the *effective* open amount that everything else reads
//!   (API, matching, dunning, the outbox claim, promises):
//!   `max(0, erp_open_minor - pending)` where `pending` is what the ERP has
//!   not reflected yet of the invoice's allocations (amount + write-off),
//!   or `erp_open_minor` itself when nothing is pending.
//!
//! An allocation is [`ErpState::Pending`] until the ERP reflects it, then
//! [`ErpState::Reflected`], by one of [`ReflectedBy`]:
//!
//! - the ERP's open amount drops: the drop reflects the pending allocations
//!   oldest first, up to its size (a smaller drop reflects part of one);
//! - the ERP reports the invoice paid, cancelled or closed: nothing is left to
//!   lower, all of them are reflected;
//! - a full export no longer lists the invoice (the ERP closed it);
//! - a write-back connector that registers payments in the ERP delivered the
//!   allocation's notice: its amount is reflected and the ERP's open amount
//!   lowered by it (the write-off stays pending: it is Relance's decision,
//!   not registered in the ERP).
//!
//! Undoing an allocation takes it out of the pending amount: the invoice's
//! open amount is the ERP's again, less what is still pending.
//!
//! A credit note (negative open amount) is offset by a negative allocation
//! (a net payment: invoices less the credit note). Everything above holds
//! with the signs turned: what is pending is the allocation's size, the
//! effective open amount is the ERP's moved toward zero by it (never above
//! zero), and the ERP reflects it when its open amount moves toward zero
//! ([`toward_zero`]). `reflected_minor` is a size, never negative.

use serde_json::json;

use super::StoreError;
use super::db::{Db, args};
use super::sqlite::insert_event;
use relance_domain::InvoiceStatus;

/// Whether the ERP reflects an allocation yet (`allocations.erp_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErpState {
    /// Applied by Relance, not seen in the ERP yet: deducted from the ERP's open amount.
    Pending,
    /// The ERP's open amount includes it.
    Reflected,
}

impl ErpState {
    pub fn as_str(self) -> &'static str {
        match self {
            ErpState::Pending => "pending",
            ErpState::Reflected => "reflected",
        }
    }

    pub fn parse(text: &str) -> Option<ErpState> {
        [ErpState::Pending, ErpState::Reflected].into_iter().find(|s| s.as_str() == text)
    }
}

/// What showed that the ERP reflects an allocation (`allocations.reflected_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReflectedBy {
    /// The ERP's reported open amount dropped.
    ErpOpenDrop,
    /// The ERP reported the invoice paid, cancelled or closed.
    ErpSettled,
    /// A full export of the invoice's source no longer listed it.
    MissingFromFullExport,
    /// A write-back connector registered the payment in the ERP.
    WriteBackRegistered,
}

impl ReflectedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ReflectedBy::ErpOpenDrop => "erp_open_drop",
            ReflectedBy::ErpSettled => "erp_settled",
            ReflectedBy::MissingFromFullExport => "missing_from_full_export",
            ReflectedBy::WriteBackRegistered => "writeback_registered",
        }
    }

    pub fn parse(text: &str) -> Option<ReflectedBy> {
        [
            ReflectedBy::ErpOpenDrop,
            ReflectedBy::ErpSettled,
            ReflectedBy::MissingFromFullExport,
            ReflectedBy::WriteBackRegistered,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// Serialized as its stored name.
impl serde::Serialize for ErpState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Serialized as its stored name.
impl serde::Serialize for ReflectedBy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One allocation of an invoice that the ERP has not (fully) reflected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingAllocation {
    pub id: i64,
    /// Still to be reflected: amount + write-off - reflected so far.
    pub left: i64,
}

/// A part of an allocation just marked reflected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reflected {
    pub allocation: i64,
    pub amount: i64,
    /// The allocation is now fully reflected.
    pub complete: bool,
}

/// The pending allocations of an invoice, oldest first.
pub(crate) fn pending_allocations<'a>(
    db: impl Into<Db<'a>>,
    tenant: &str,
    invoice: &str,
) -> Result<Vec<PendingAllocation>, StoreError> {
    db.into()
        .query(
            "SELECT id, amount_minor, write_off_minor, reflected_minor FROM allocations
             WHERE tenant_id=?1 AND invoice_number=?2 AND erp_state='pending' AND undone_at IS NULL ORDER BY id",
            args![tenant, invoice],
        )?
        .iter()
        .map(|r| {
            let (id, amount, write_off, reflected): (i64, i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            Ok(PendingAllocation { id, left: left_to_reflect(id, amount, write_off, reflected)? })
        })
        .collect()
}

/// What the ERP has still to reflect of allocation `id`: its amount (a
/// credit note's offset is negative: its size) and write-off, less what is
/// reflected already.
pub(crate) fn left_to_reflect(id: i64, amount: i64, write_off: i64, reflected: i64) -> Result<i64, StoreError> {
    amount
        .checked_abs()
        .and_then(|a| a.checked_add(write_off))
        .and_then(|t| t.checked_sub(reflected))
        .filter(|l| *l >= 0)
        .ok_or_else(|| StoreError::Corrupt(format!("allocation {id}: amounts out of range")))
}

/// The total still pending of `pending`.
pub(crate) fn pending_total(pending: &[PendingAllocation]) -> Result<i64, StoreError> {
    pending
        .iter()
        .try_fold(0i64, |sum, p| sum.checked_add(p.left))
        .ok_or_else(|| StoreError::Corrupt("pending allocations overflow".into()))
}

/// The effective open amount: the ERP's, moved toward zero by what is
/// pending (a size), never past zero: an invoice's open amount less it, a
/// credit note's negative open amount plus it; the ERP's own figure when
/// nothing is pending.
pub(crate) fn effective_open(erp_open: i64, pending: i64) -> i64 {
    if pending == 0 {
        erp_open
    } else if erp_open < 0 {
        erp_open.saturating_add(pending).min(0)
    } else {
        erp_open.saturating_sub(pending).max(0)
    }
}

/// How far the ERP's open amount moved toward zero from `before` to `after`
/// (an invoice's dropped, a credit note's rose): what it may reflect of the
/// pending allocations. Zero when it moved away from zero.
pub(crate) fn toward_zero(before: i64, after: i64) -> i64 {
    let moved = if before < 0 { after.saturating_sub(before) } else { before.saturating_sub(after) };
    moved.max(0)
}

/// The status of an invoice whose effective open amount is `open`: a status
/// the ERP settled (cancelled, closed, credit note) stays; a dispute survives
/// while money is still due; otherwise the amounts decide.
pub(crate) fn status_for(current: Option<InvoiceStatus>, total: i64, open: i64) -> InvoiceStatus {
    match current {
        Some(s @ (InvoiceStatus::Cancelled | InvoiceStatus::Closed | InvoiceStatus::CreditNote)) => s,
        _ => match (current, InvoiceStatus::from_amounts(total, open)) {
            (Some(InvoiceStatus::Disputed), InvoiceStatus::Open | InvoiceStatus::PartiallyPaid) => {
                InvoiceStatus::Disputed
            }
            (_, derived) => derived,
        },
    }
}

/// Marks up to `up_to` of `pending` reflected, oldest first (the last one
/// touched may be reflected in part). Returns what was reflected.
pub(crate) fn reflect<'a>(
    db: impl Into<Db<'a>>,
    tenant: &str,
    pending: &[PendingAllocation],
    up_to: i64,
    by: ReflectedBy,
    now: &str,
) -> Result<Vec<Reflected>, StoreError> {
    let db = db.into();
    let mut budget = up_to.max(0);
    let mut out = Vec::new();
    for p in pending {
        if budget == 0 {
            break;
        }
        let amount = p.left.min(budget);
        let complete = amount == p.left;
        db.execute(
            "UPDATE allocations SET reflected_minor=reflected_minor+?3,
                    erp_state=CASE WHEN ?4<>0 THEN 'reflected' ELSE erp_state END,
                    reflected_at=CASE WHEN ?4<>0 THEN ?5 ELSE reflected_at END,
                    reflected_by=CASE WHEN ?4<>0 THEN ?6 ELSE reflected_by END
             WHERE tenant_id=?1 AND id=?2 AND erp_state='pending'",
            args![tenant, p.id, amount, complete, now, by.as_str()],
        )?;
        budget -= amount;
        out.push(Reflected { allocation: p.id, amount, complete });
    }
    Ok(out)
}

/// The sum of what `reflected` lists.
pub(crate) fn reflected_total(reflected: &[Reflected]) -> i64 {
    reflected.iter().map(|r| r.amount).sum()
}

/// `[{"allocation", "amount", "complete"}]` for an audit event.
pub(crate) fn reflected_json(reflected: &[Reflected], exponent: u8) -> serde_json::Value {
    json!(
        reflected
            .iter()
            .map(|r| json!({
                "allocation": r.allocation,
                "amount": relance_domain::money::format_minor(r.amount, exponent),
                "complete": r.complete,
            }))
            .collect::<Vec<_>>()
    )
}

/// An invoice's amounts after a change of its allocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refreshed {
    pub open: i64,
    pub pending: i64,
    pub status_before: String,
    pub status_after: String,
}

/// Recomputes an invoice's effective open amount and status from the ERP's
/// open amount and its pending allocations (after an allocation was applied,
/// undone or reflected by a write-back).
pub(crate) fn refresh_invoice<'a>(
    db: impl Into<Db<'a>>,
    tenant: &str,
    invoice: &str,
    now: &str,
) -> Result<Refreshed, StoreError> {
    let db = db.into();
    let r = db
        .query_opt(
            "SELECT total_minor, erp_open_minor, status FROM invoices WHERE tenant_id=?1 AND number=?2",
            args![tenant, invoice],
        )?
        .ok_or_else(|| StoreError::Rejected(format!("invoice {invoice} does not exist")))?;
    let (total, erp_open, status): (i64, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
    let pending = pending_total(&pending_allocations(db, tenant, invoice)?)?;
    let open = effective_open(erp_open, pending);
    let after = status_for(status.parse().ok(), total, open);
    db.execute(
        "UPDATE invoices SET open_minor=?3, status=?4, updated_at=?5 WHERE tenant_id=?1 AND number=?2",
        args![tenant, invoice, open, after.as_str(), now],
    )?;
    Ok(Refreshed { open, pending, status_before: status, status_after: after.as_str().to_string() })
}

/// A write-back connector that registers payments delivered the notice of
/// `allocation`: its amount (not its write-off) is reflected, and the ERP's
/// open amount of the invoice is lowered by what was reflected, since the
/// ERP now holds the payment. Nothing happens for an allocation undone or
/// already reflected.
pub(crate) fn reflect_registered<'a>(
    db: impl Into<Db<'a>>,
    tenant: &str,
    allocation: i64,
    now: &str,
) -> Result<(), StoreError> {
    let db = db.into();
    let row = db.query_opt(
        "SELECT invoice_number, amount_minor, reflected_minor, currency FROM allocations
         WHERE tenant_id=?1 AND id=?2 AND erp_state='pending' AND undone_at IS NULL",
        args![tenant, allocation],
    )?;
    let Some(r) = row else { return Ok(()) };
    let (invoice, amount, reflected, currency): (String, i64, i64, String) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    // A drop of the ERP's open amount reflects the amount before the write-off
    // (a credit note's offset: its size).
    let registered = amount.saturating_abs().saturating_sub(reflected).max(0);
    if registered == 0 {
        return Ok(());
    }
    let pending: Vec<PendingAllocation> =
        pending_allocations(db, tenant, &invoice)?.into_iter().filter(|p| p.id == allocation).collect();
    let done = reflect(db, tenant, &pending, registered, ReflectedBy::WriteBackRegistered, now)?;
    let lowered = reflected_total(&done);
    db.execute(
        "UPDATE invoices SET erp_open_minor=CASE WHEN erp_open_minor < 0 THEN min(0, erp_open_minor+?3)
                                                 ELSE max(0, erp_open_minor-?3) END
         WHERE tenant_id=?1 AND number=?2",
        args![tenant, invoice, lowered],
    )?;
    let refreshed = refresh_invoice(db, tenant, &invoice, now)?;
    let exp = relance_domain::money::Currency::parse(&currency)
        .map_err(|e| StoreError::Corrupt(format!("allocation {allocation}: {e}")))?
        .exponent();
    insert_event(
        db,
        tenant,
        "writeback",
        "allocation_reflected",
        &format!("invoice:{invoice}"),
        &json!({
            "by": ReflectedBy::WriteBackRegistered.as_str(),
            "reflected": reflected_json(&done, exp),
            "pending_erp": relance_domain::money::format_minor(refreshed.pending, exp),
        }),
    )?;
    Ok(())
}

/// After migration 0007 (which set `erp_open_minor` and the allocations'
/// states on an older database): brings the open amount of every invoice
/// with pending allocations in line with them. An invoice that a stale
/// import had reopened before this version gets its payments back, with an
/// `invoice_updated` audit event; the others are left as they are.
pub(crate) fn repair_after_migration<'a>(db: impl Into<Db<'a>>) -> Result<(), StoreError> {
    let db = db.into();
    let rows = db.query(
        "SELECT DISTINCT i.tenant_id, i.number, i.total_minor, i.open_minor, i.erp_open_minor, i.status, i.currency
         FROM invoices i JOIN allocations a ON a.tenant_id=i.tenant_id AND a.invoice_number=i.number
         WHERE a.erp_state='pending' AND a.undone_at IS NULL ORDER BY i.tenant_id, i.number",
        args![],
    )?;
    let now = super::now_text();
    for r in rows {
        let (tenant, number, total, open, erp_open, status, currency): (String, String, i64, i64, i64, String, String) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?);
        let pending = pending_total(&pending_allocations(db, &tenant, &number)?)?;
        let effective = effective_open(erp_open, pending);
        let after = status_for(status.parse().ok(), total, effective);
        if effective == open && after.as_str() == status {
            continue;
        }
        db.execute(
            "UPDATE invoices SET open_minor=?3, status=?4, updated_at=?5 WHERE tenant_id=?1 AND number=?2",
            args![tenant, number, effective, after.as_str(), now],
        )?;
        let exp = relance_domain::money::Currency::parse(&currency).map(|c| c.exponent()).unwrap_or(2);
        let fmt = |m: i64| relance_domain::money::format_minor(m, exp);
        insert_event(
            db,
            &tenant,
            "system",
            "invoice_updated",
            &format!("invoice:{number}"),
            &json!({
                "reason": "payments applied by Relance, reopened by an import before paid stays paid",
                "changes": { "amount_open": [fmt(open), fmt(effective)], "status": [status, after.as_str()] },
                "pending_erp": fmt(pending),
            }),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_open_amount_never_goes_below_zero_and_keeps_credit_notes() {
        assert_eq!(effective_open(10_000, 4_000), 6_000);
        assert_eq!(effective_open(10_000, 12_000), 0);
        assert_eq!(effective_open(-500, 0), -500, "a credit note without allocation keeps its amount");
        assert_eq!(effective_open(i64::MIN, 1), i64::MIN + 1, "a credit note moves toward zero");
        assert_eq!(effective_open(-500, 500), 0, "a credit note offset in full");
        assert_eq!(effective_open(-500, 200), -300, "a credit note offset in part");
        assert_eq!(effective_open(-500, 900), 0, "never past zero");
        assert_eq!(effective_open(i64::MAX, i64::MAX), 0);
    }

    #[test]
    fn the_erp_reflects_what_moves_toward_zero() {
        assert_eq!(toward_zero(10_000, 4_000), 6_000, "an invoice's open amount dropped");
        assert_eq!(toward_zero(10_000, 12_000), 0, "it rose: nothing reflected");
        assert_eq!(toward_zero(-5_000, 0), 5_000, "a credit note used up in the ERP");
        assert_eq!(toward_zero(-5_000, -2_000), 3_000, "a credit note used in part");
        assert_eq!(toward_zero(-5_000, -5_000), 0, "a stale export");
        assert_eq!(toward_zero(-5_000, -6_000), 0, "moved away from zero");
    }

    #[test]
    fn a_settled_status_stays_and_a_dispute_survives_while_money_is_due() {
        use InvoiceStatus::*;
        assert_eq!(status_for(Some(Cancelled), 1_000, 1_000), Cancelled);
        assert_eq!(status_for(Some(Closed), 1_000, 0), Closed);
        assert_eq!(status_for(Some(Disputed), 1_000, 400), Disputed);
        assert_eq!(status_for(Some(Disputed), 1_000, 0), Paid);
        assert_eq!(status_for(Some(Paid), 1_000, 1_000), Open, "an undone payment reopens");
        assert_eq!(status_for(Some(Open), 1_000, 250), PartiallyPaid);
    }

    #[test]
    fn erp_states_round_trip() {
        for s in [ErpState::Pending, ErpState::Reflected] {
            assert_eq!(ErpState::parse(s.as_str()), Some(s));
        }
        assert_eq!(ErpState::parse("done"), None);
    }
}
