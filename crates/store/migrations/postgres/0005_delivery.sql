-- PostgreSQL twin of sqlite/0005_delivery.sql (same tables, columns, keys and indexes;
-- INTEGER -> BIGINT, INTEGER PRIMARY KEY -> identity, BLOB -> BYTEA, REAL ->
-- DOUBLE PRECISION, no WITHOUT ROWID: see crates/store/src/postgres.rs).

-- Delivery of the outbox by channel workers, and what letters need.
--
-- A worker claims a row by moving it to `sending` (attempts + 1) in one
-- transaction before it talks to the channel, and marks it `sent` (with the
-- channel's reference) or back to `queued` with `next_attempt_at` (transient
-- failure, backoff) or `failed` (permanent failure or attempts exhausted: the
-- quarantine, shown by the API) in another. A row found `sending` at start-up
-- was interrupted mid-send: it is sent again under the same Message-ID, which
-- receivers and the reply threading can recognise.
ALTER TABLE outbox ADD COLUMN message_id TEXT;        -- deterministic, set when queued
ALTER TABLE outbox ADD COLUMN next_attempt_at TEXT;   -- RFC 3339 UTC; NULL = now
ALTER TABLE outbox ADD COLUMN sent_at TEXT;           -- RFC 3339 UTC
ALTER TABLE outbox ADD COLUMN reference TEXT;         -- Message-ID, provider id, file path
ALTER TABLE outbox ADD COLUMN connector TEXT;         -- the connector that delivered it
ALTER TABLE outbox ADD COLUMN interrupted BIGINT NOT NULL DEFAULT 0;
CREATE INDEX outbox_by_message_id ON outbox (message_id);

-- Postal address (lines separated by newlines) for letters.
ALTER TABLE customers ADD COLUMN address TEXT;
