-- One meaning for "outbox": the reminder queue (`outbox`, `OutboxItem`, the
-- API's `/outbox`). The queue of notices for the ERP is the write-back queue.
ALTER TABLE writeback_outbox RENAME TO writeback_queue;

-- The reminder outbox's status is one of `OutboxStatus` (queued → sending →
-- sent | failed | cancelled; failed → queued on retry). SQLite adds a CHECK
-- only by rebuilding the table. A row with any other status (none is ever
-- written) is kept as `failed`, with its old status in `last_error`, so a
-- person sees it in `GET …/outbox?status=failed`.
CREATE TABLE outbox_new (
    id               INTEGER PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    customer_id      TEXT NOT NULL,
    recipient        TEXT,
    scenario         TEXT NOT NULL,
    step_id          TEXT NOT NULL,
    channel          TEXT NOT NULL,
    template         TEXT NOT NULL,
    invoice_numbers  TEXT NOT NULL,
    covers           TEXT NOT NULL,
    planned_for      TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    why              TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    message_id       TEXT,
    next_attempt_at  TEXT,
    sent_at          TEXT,
    reference        TEXT,
    connector        TEXT,
    interrupted      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, idempotency_key)
);
INSERT INTO outbox_new (id, tenant_id, idempotency_key, customer_id, recipient, scenario, step_id, channel, template,
                        invoice_numbers, covers, planned_for, subject, body, why, status, attempts, last_error,
                        created_at, updated_at, message_id, next_attempt_at, sent_at, reference, connector, interrupted)
SELECT id, tenant_id, idempotency_key, customer_id, recipient, scenario, step_id, channel, template,
       invoice_numbers, covers, planned_for, subject, body, why,
       CASE WHEN status IN ('queued', 'sending', 'sent', 'failed', 'cancelled') THEN status ELSE 'failed' END,
       attempts,
       CASE WHEN status IN ('queued', 'sending', 'sent', 'failed', 'cancelled') THEN last_error
            ELSE 'unknown status `' || status || '` found by migration 0010' || coalesce(': ' || last_error, '') END,
       created_at, updated_at, message_id, next_attempt_at, sent_at, reference, connector, interrupted
  FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_by_customer ON outbox (tenant_id, customer_id, planned_for);
CREATE INDEX outbox_by_status ON outbox (tenant_id, status, id);
CREATE INDEX outbox_by_message_id ON outbox (message_id);
