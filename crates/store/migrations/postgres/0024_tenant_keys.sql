-- PostgreSQL twin of sqlite/0024_tenant_keys.sql (same tables, columns, keys and indexes;
-- INTEGER -> BIGINT, INTEGER PRIMARY KEY -> identity, BLOB -> BYTEA, REAL ->
-- DOUBLE PRECISION, no WITHOUT ROWID: see crates/store/src/postgres.rs).

-- Secret keys of a tenant, created at first use and never sent anywhere
-- (issue #18): `reply_tokens` signs the per-reminder reply addresses
-- (`collections+r<id>-<mac>@…`) so that a reply or a bounce is linked to its
-- reminder even without thread headers, and a forged address is not.
CREATE TABLE tenant_keys (
    tenant_id   TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    key         BYTEA NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, purpose)
);
