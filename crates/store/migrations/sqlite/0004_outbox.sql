-- Reminders decided by the dunning engine, one row per idempotency key.
-- The key (customer, step, invoice set or promised date) is unique per tenant:
-- planning the same day twice, or after a restart, queues nothing twice.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    customer_id      TEXT NOT NULL,
    recipient        TEXT,                    -- set when answering a given address; else the customer's contacts
    scenario         TEXT NOT NULL,
    step_id          TEXT NOT NULL,
    channel          TEXT NOT NULL,
    template         TEXT NOT NULL,
    invoice_numbers  TEXT NOT NULL,           -- JSON array
    covers           TEXT NOT NULL,           -- JSON array of [step, invoice-or-date]
    planned_for      TEXT NOT NULL,           -- YYYY-MM-DD
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    why              TEXT NOT NULL,           -- JSON array
    status           TEXT NOT NULL,           -- queued | sent | failed | cancelled
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX outbox_by_customer ON outbox (tenant_id, customer_id, planned_for);
CREATE INDEX outbox_by_status ON outbox (tenant_id, status, id);
