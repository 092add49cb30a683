-- PostgreSQL twin of sqlite/0022_deferred_indexes.sql (same tables, columns, keys and indexes;
-- INTEGER -> BIGINT, INTEGER PRIMARY KEY -> identity, BLOB -> BYTEA, REAL ->
-- DOUBLE PRECISION, no WITHOUT ROWID: see crates/store/src/postgres.rs).

-- Bulk loads (issue #16): a large import into a small table drops the
-- secondary indexes of `invoices` and builds each once, sorted, when it
-- finishes, instead of updating them row by row. Each dropped index is
-- recorded here, in the transaction that drops it, with the statement that
-- rebuilds it; the rebuild deletes the row in the transaction that creates
-- the index. A crash in between leaves the rows: the store rebuilds them
-- when it next opens the database, before any migration.
-- PostgreSQL: the table exists so both schemas stay the same, but the
-- bulk path of the port need not drop indexes (PostgreSQL's COPY into a
-- table with indexes is fast enough, and `sql` would hold PostgreSQL DDL
-- there). Whether the port uses it is decided with the import code.
CREATE TABLE deferred_indexes (
    name        TEXT PRIMARY KEY,
    sql         TEXT NOT NULL,
    import_id   BIGINT,
    deferred_at TEXT NOT NULL
);
