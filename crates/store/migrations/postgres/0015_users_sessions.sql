-- PostgreSQL twin of sqlite/0015_users_sessions.sql (same tables, columns, keys and indexes;
-- INTEGER -> BIGINT, INTEGER PRIMARY KEY -> identity, BLOB -> BYTEA, REAL ->
-- DOUBLE PRECISION, no WITHOUT ROWID: see crates/store/src/postgres.rs).

-- People of a tenant who log in to the web workspace, and their sessions.
--
-- `users`: declared in the tenant file (`source = 'config'`, refreshed at
-- every start) or added with `relance users add` (`source = 'cli'`). The
-- password is kept only as an argon2 PHC hash. `failed_logins` counts
-- failures since the last success; reaching the limit sets `locked_until`.
CREATE TABLE users (
    tenant_id      TEXT NOT NULL,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'collector', 'read_only')),
    password_hash  TEXT NOT NULL,
    language       TEXT CHECK (language IN ('fr', 'en')),
    source         TEXT NOT NULL CHECK (source IN ('config', 'cli')),
    failed_logins  BIGINT NOT NULL DEFAULT 0,
    locked_until   TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- A logged-in browser. Only the SHA-256 of the cookie's secret is kept, so
-- a copy of the database does not let anyone in. `csrf` is the token every
-- form of the session must carry.
CREATE TABLE web_sessions (
    id_hash     TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    language    TEXT NOT NULL CHECK (language IN ('fr', 'en')),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    FOREIGN KEY (tenant_id, user_name) REFERENCES users (tenant_id, name) ON DELETE CASCADE
);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
