-- PostgreSQL twin of sqlite/0019_list_indexes.sql (same tables, columns, keys and indexes;
-- INTEGER -> BIGINT, INTEGER PRIMARY KEY -> identity, BLOB -> BYTEA, REAL ->
-- DOUBLE PRECISION, no WITHOUT ROWID: see crates/store/src/postgres.rs).

-- Lists read a page at a time stay a page of work at any size: the invoice
-- list by due date then number (the API's default order), tasks and
-- promises by status newest first.
CREATE INDEX invoices_by_due ON invoices (tenant_id, due_date, number);
DROP INDEX IF EXISTS tasks_by_status;
CREATE INDEX tasks_by_status ON tasks (tenant_id, status, id);
CREATE INDEX promises_by_status ON promises (tenant_id, status, id);
