-- Paid stays paid (issue #13). PostgreSQL twin of sqlite/0007: the same
-- columns, CHECKs and partial index (see the SQLite file for their meaning).
--
-- The SQLite migration ends with a repair of existing data (UPDATEs, then
-- `reflection::repair_after_migration` in Rust). No PostgreSQL database
-- predates the whole schema (the PostgreSQL backend starts at version 24,
-- applied in one go on an empty schema), so there is nothing to repair:
-- the data statements are left out on purpose.
ALTER TABLE invoices ADD COLUMN erp_open_minor BIGINT NOT NULL DEFAULT 0;

ALTER TABLE allocations ADD COLUMN erp_state TEXT NOT NULL DEFAULT 'pending'
    CHECK (erp_state IN ('pending', 'reflected'));
ALTER TABLE allocations ADD COLUMN reflected_minor BIGINT NOT NULL DEFAULT 0
    CHECK (reflected_minor >= 0);
ALTER TABLE allocations ADD COLUMN reflected_at TEXT;
ALTER TABLE allocations ADD COLUMN reflected_by TEXT
    CHECK (reflected_by IS NULL
           OR reflected_by IN ('erp_open_drop', 'erp_settled', 'missing_from_full_export', 'writeback_registered'));

CREATE INDEX allocations_pending ON allocations (tenant_id, invoice_number, id)
    WHERE erp_state = 'pending' AND undone_at IS NULL;
