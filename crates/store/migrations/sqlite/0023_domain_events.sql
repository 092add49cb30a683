-- Domain events (issue #18): the transactional outbox of the documented
-- catalogue (docs/events.md). A row is written in the same transaction as
-- the change that causes it; `id` is the stable, monotonic event id that
-- webhooks (`X-Relance-Event-Id`) and the SSE stream (`id:`) carry (see
-- `count` for the rows that pack several events).
CREATE TABLE domain_events (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    type            TEXT NOT NULL,            -- dotted name, e.g. 'payment.applied'
    schema_version  INTEGER NOT NULL,
    customer_id     TEXT,
    subject         TEXT NOT NULL,            -- 'invoice:F-1', 'promise:3', 'outbox:7', a customer id…
    occurred_at     TEXT NOT NULL,            -- RFC 3339 UTC
    data            TEXT NOT NULL,            -- JSON object, fields per type
    -- A row may hold several events of one type (the invoices an import
    -- batch created): then it covers the ids id-count+1 ..= id, its
    -- customer_id and subject are empty and `data` is the packed list.
    count           INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX domain_events_by_tenant ON domain_events (tenant_id, id);

-- One cursor per webhook subscriber: the last event id it acknowledged (2xx)
-- and the state of the retry of the next one.
CREATE TABLE event_subscriptions (
    tenant_id        TEXT NOT NULL,
    subscriber       TEXT NOT NULL,
    last_id          INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    last_error       TEXT,
    delivered        INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, subscriber)
) WITHOUT ROWID;
