-- PostgreSQL twin of sqlite/0011_contact_status.sql (same tables, columns, keys and indexes;
-- INTEGER -> BIGINT, INTEGER PRIMARY KEY -> identity, BLOB -> BYTEA, REAL ->
-- DOUBLE PRECISION, no WITHOUT ROWID: see crates/store/src/postgres.rs).

-- What Relance knows about customers' e-mail addresses beyond the ERP's
-- list (issue #14): addresses a delivery report said are undeliverable, and
-- addresses whose owner is away (out-of-office reply with a return date).
-- One row per tenant and address (lower case); a later report or absence
-- replaces the row, a real reply from the address deletes both.

-- Delivery skips these addresses; with none left, an e-mail step becomes a task.
CREATE TABLE contact_undeliverable (
    tenant_id    TEXT NOT NULL,
    address      TEXT NOT NULL,                             -- lower case
    customer_id  TEXT,
    since        TEXT NOT NULL,                             -- RFC 3339 UTC, when the report was handled
    status_code  TEXT,                                      -- enhanced status code (5.1.1)
    diagnostic   TEXT,                                      -- what the remote server said
    message_id   BIGINT REFERENCES inbound_messages (id),  -- the report
    PRIMARY KEY (tenant_id, address)
);

-- The dunning engine waits until the business day after `until`.
CREATE TABLE contact_away (
    tenant_id    TEXT NOT NULL,
    address      TEXT NOT NULL,                             -- lower case
    customer_id  TEXT,
    until        TEXT NOT NULL,                             -- YYYY-MM-DD, the day the person is back
    reason       TEXT NOT NULL,
    message_id   BIGINT REFERENCES inbound_messages (id),  -- the out-of-office reply
    recorded_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, address)
);
