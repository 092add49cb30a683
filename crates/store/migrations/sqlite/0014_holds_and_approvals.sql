-- The collections team's manual actions (issue #15).
--
-- * `holds`: a person pauses the reminders of a customer or of one of its
--   invoices, with a reason and an optional last day (`until`, inclusive);
--   lifting keeps the row (who, when, why).
-- * `notes`: free text on a customer (optionally about one invoice).
-- * `tasks` gains the `follow_up` kind (tasks created by hand), an assignee,
--   a due day, who created it (NULL: Relance) and who closed it when.
-- * `outbox` gains the `to_confirm` status (reminders of a step marked
--   `confirm` wait for a person) and the decision on them: who approved or
--   cancelled, when, the reason of a cancellation, whether the text was
--   edited. A person's cancellation (`decided_by` set) is final: the planner
--   counts the step as taken.
--
-- SQLite changes a CHECK only by rebuilding the table: create, copy every
-- row, drop, rename, recreate the indexes (foreign keys are off while the
-- migrations run and checked before the commit).

CREATE TABLE holds (
    id             INTEGER PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    -- NULL holds every invoice of the customer
    invoice_number TEXT,
    reason         TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    -- last day held (YYYY-MM-DD), NULL until lifted
    until          TEXT,
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    lifted_by      TEXT,
    lifted_at      TEXT,
    lift_note      TEXT,
    CHECK ((lifted_by IS NULL) = (lifted_at IS NULL))
);
CREATE INDEX holds_by_customer ON holds (tenant_id, customer_id, lifted_at);

CREATE TABLE notes (
    id             INTEGER PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    invoice_number TEXT,
    text           TEXT NOT NULL CHECK (length(trim(text)) > 0),
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX notes_by_customer ON notes (tenant_id, customer_id, id);

CREATE TABLE tasks_new (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    kind            TEXT NOT NULL
                    CHECK (kind IN ('dispute', 'awaiting_proof', 'check_payment', 'payment_plan', 'contact', 'call',
                                    'follow_up')),
    customer_id     TEXT,
    message_id      INTEGER REFERENCES inbound_messages (id),
    invoice_numbers TEXT NOT NULL DEFAULT '[]',
    note            TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('open', 'done')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    assignee        TEXT,
    due_on          TEXT,
    created_by      TEXT,
    closed_by       TEXT,
    closed_at       TEXT,
    closed_note     TEXT
);
INSERT INTO tasks_new (id, tenant_id, kind, customer_id, message_id, invoice_numbers, note, status, created_at, updated_at)
     SELECT id, tenant_id, kind, customer_id, message_id, invoice_numbers, note, status, created_at, updated_at
       FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;
CREATE INDEX tasks_by_status ON tasks (tenant_id, status);

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
    status           TEXT NOT NULL
                     CHECK (status IN ('to_confirm', 'queued', 'sending', 'sent', 'failed', 'cancelled')),
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
    -- a person's decision on the row: approved (to_confirm → queued) or cancelled
    decided_by       TEXT,
    decided_at       TEXT,
    cancel_reason    TEXT,
    edited           INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, idempotency_key)
);
INSERT INTO outbox_new (id, tenant_id, idempotency_key, customer_id, recipient, scenario, step_id, channel, template,
                        invoice_numbers, covers, planned_for, subject, body, why, status, attempts, last_error,
                        created_at, updated_at, message_id, next_attempt_at, sent_at, reference, connector, interrupted)
SELECT id, tenant_id, idempotency_key, customer_id, recipient, scenario, step_id, channel, template,
       invoice_numbers, covers, planned_for, subject, body, why, status, attempts, last_error,
       created_at, updated_at, message_id, next_attempt_at, sent_at, reference, connector, interrupted
  FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_by_customer ON outbox (tenant_id, customer_id, planned_for);
CREATE INDEX outbox_by_status ON outbox (tenant_id, status, id);
CREATE INDEX outbox_by_message_id ON outbox (message_id);
