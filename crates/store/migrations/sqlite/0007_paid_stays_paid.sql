-- Paid stays paid (issue #13).
--
-- An allocation Relance applied lowers the invoice's open amount at once,
-- but the ERP learns of it only later (write-back, then the ERP's own
-- processing). Until the ERP reflects it, its exports still show the old
-- open amount. So the store keeps both figures:
--
-- * `invoices.erp_open_minor`: the open amount the ERP last reported (a
--   closing pass of a full export counts as "0");
-- * `invoices.open_minor`: the effective open amount, what everything else
--   reads (API, matching, dunning, the outbox claim, promises):
--   max(0, erp_open_minor - the allocations still pending in the ERP).
--
-- An allocation is `pending` until the ERP reflects it, then `reflected`
-- (`erp_state`). `reflected_minor` is how much of it (amount + write-off)
-- the ERP has reflected so far: a drop of the ERP's open amount smaller than
-- the allocation reflects part of it. `reflected_by` says what completed the
-- reflection: the ERP's open amount dropped (`erp_open_drop`), the ERP
-- reported the invoice settled (`erp_settled`), a full export no longer
-- lists it (`missing_from_full_export`), or a write-back connector that
-- registers payments in the ERP delivered its notice (`writeback_registered`).
ALTER TABLE invoices ADD COLUMN erp_open_minor INTEGER NOT NULL DEFAULT 0;

ALTER TABLE allocations ADD COLUMN erp_state TEXT NOT NULL DEFAULT 'pending'
    CHECK (erp_state IN ('pending', 'reflected'));
ALTER TABLE allocations ADD COLUMN reflected_minor INTEGER NOT NULL DEFAULT 0
    CHECK (reflected_minor >= 0);
ALTER TABLE allocations ADD COLUMN reflected_at TEXT;
ALTER TABLE allocations ADD COLUMN reflected_by TEXT
    CHECK (reflected_by IS NULL
           OR reflected_by IN ('erp_open_drop', 'erp_settled', 'missing_from_full_export', 'writeback_registered'));

-- Pending allocations of an invoice, read on every update of an invoice
-- that an import sees again (a probe of this small index when there are none).
CREATE INDEX allocations_pending ON allocations (tenant_id, invoice_number, id)
    WHERE erp_state = 'pending' AND undone_at IS NULL;

-- Existing data. Allocations on invoices the ERP already settled are
-- reflected; the others are pending, and the ERP's last report is taken as
-- the stored open amount plus them (what it was before they were applied).
-- When that would exceed the invoice's total, the open amount was already
-- reset by a stale import (the bug this migration fixes): the stored open
-- amount is then the ERP's report. The migration runner then recomputes the
-- open amount of such invoices from the two figures, with an audit event
-- (`reflection::repair_after_migration`).
UPDATE allocations SET erp_state = 'reflected', reflected_minor = amount_minor + write_off_minor,
       reflected_by = 'erp_settled', reflected_at = created_at
 WHERE undone_at IS NULL
   AND EXISTS (SELECT 1 FROM invoices i WHERE i.tenant_id = allocations.tenant_id
               AND i.number = allocations.invoice_number AND i.status IN ('cancelled', 'closed', 'credit_note'));

UPDATE invoices SET erp_open_minor = open_minor + coalesce(
    (SELECT sum(a.amount_minor + a.write_off_minor) FROM allocations a
      WHERE a.tenant_id = invoices.tenant_id AND a.invoice_number = invoices.number
        AND a.erp_state = 'pending' AND a.undone_at IS NULL), 0);
UPDATE invoices SET erp_open_minor = open_minor
 WHERE erp_open_minor > total_minor AND total_minor >= 0;
