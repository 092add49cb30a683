-- Bulk loads (issue #16): a large import into a small table drops the
-- secondary indexes of `invoices` and builds each once, sorted, when it
-- finishes, instead of updating them row by row. Each dropped index is
-- recorded here, in the transaction that drops it, with the statement that
-- rebuilds it; the rebuild deletes the row in the transaction that creates
-- the index. A crash in between leaves the rows: the store rebuilds them
-- when it next opens the database, before any migration.
CREATE TABLE deferred_indexes (
    name        TEXT PRIMARY KEY,
    sql         TEXT NOT NULL,
    import_id   INTEGER,
    deferred_at TEXT NOT NULL
);
