-- PostgreSQL twin of sqlite/0018_quarantine_handling.sql (same tables, columns, keys and indexes;
-- INTEGER -> BIGINT, INTEGER PRIMARY KEY -> identity, BLOB -> BYTEA, REAL ->
-- DOUBLE PRECISION, no WITHOUT ROWID: see crates/store/src/postgres.rs).

-- A person handles a quarantined input: dismisses it (fixed at the source,
-- or not worth keeping) or asks for it to be read again (a statement file
-- rejected by an older parser). The row stays, with who, when and why; the
-- Today count and the operations page show only the rows nobody handled.
ALTER TABLE quarantine ADD COLUMN handling TEXT CHECK (handling IN ('dismissed', 'retried'));
ALTER TABLE quarantine ADD COLUMN handled_at TEXT;
ALTER TABLE quarantine ADD COLUMN handled_by TEXT;
ALTER TABLE quarantine ADD COLUMN handling_note TEXT;
-- When the connector took a retry request (it forgets the file as read then).
ALTER TABLE quarantine ADD COLUMN retry_taken_at TEXT;
CREATE INDEX quarantine_open ON quarantine (tenant_id, id) WHERE handled_at IS NULL AND released_at IS NULL;
