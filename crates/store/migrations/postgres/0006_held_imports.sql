-- PostgreSQL twin of sqlite/0006_held_imports.sql (same tables, columns, keys and indexes;
-- INTEGER -> BIGINT, INTEGER PRIMARY KEY -> identity, BLOB -> BYTEA, REAL ->
-- DOUBLE PRECISION, no WITHOUT ROWID: see crates/store/src/postgres.rs).

-- Full exports held for confirmation (issue #11).
--
-- A full export that would close too large a share of a tenant's open
-- invoices (or that has no data row) is not applied: its import goes to
-- state `held` (`imports.state`: running | done | quarantined | held |
-- released) with one quarantine row naming it. Releasing that row through
-- the API moves the import to `released`, which the connector then applies
-- with its closes; `released_at` records when the hold ended.
ALTER TABLE quarantine ADD COLUMN import_id BIGINT;
ALTER TABLE quarantine ADD COLUMN released_at TEXT;
CREATE INDEX imports_by_state ON imports (tenant_id, source, state);
