-- PostgreSQL twin of sqlite/0026_leases.sql (same tables, columns, keys and indexes;
-- INTEGER -> BIGINT, INTEGER PRIMARY KEY -> identity, BLOB -> BYTEA, REAL ->
-- DOUBLE PRECISION, no WITHOUT ROWID: see crates/store/src/postgres.rs).

-- Several daemons on one database (issue #17): each daemon registers itself
-- (`daemons`, its heartbeat in `seen_at`), and a piece of work that must run
-- in one daemon at a time (a connector of a tenant, a tenant's reminder day,
-- its matching) is done under a lease: one row per name, held by one daemon
-- until `expires_at` unless renewed. `generation` grows each time the lease
-- changes hands (a fencing token). Times are RFC 3339 UTC text, compared as
-- text like every stored time.
CREATE TABLE daemons (
    id          TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    pid         BIGINT NOT NULL,
    version     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    seen_at     TEXT NOT NULL
);

CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    taken_at    TEXT NOT NULL,
    renewed_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE INDEX leases_by_holder ON leases (holder);
