-- Learning from corrections (issue #14): a person confirms or corrects what a
-- reply was understood to say (intent, promised date, amount, invoices)
-- through the API; each correction is kept with what it replaced and who
-- made it, the reply's actions are re-run, and the tenant's corrections
-- train its model overlay (`reply_models`, one row per version).
--
-- Intents take the values of `relance_engine::replies::Intent`. A promise
-- recorded from a misread reply is `cancelled` (a new value of
-- `relance_domain::replies::PromiseStatus`): `promises` is rebuilt for the
-- CHECK (see 0009 for the method; the runner turns foreign keys off and
-- checks them before it commits).

CREATE TABLE reply_corrections (
    id                  INTEGER PRIMARY KEY,
    tenant_id           TEXT NOT NULL,
    message_id          INTEGER NOT NULL REFERENCES inbound_messages (id),
    intent              TEXT NOT NULL
                        CHECK (intent IN ('promise_to_pay', 'dispute', 'already_paid',
                               'payment_plan_request', 'invoice_copy_request', 'auto_reply', 'other')),
    promised_date       TEXT,
    amount_minor        INTEGER,
    currency            TEXT,
    -- JSON list of invoice numbers, as stored in `invoices`
    invoice_numbers     TEXT NOT NULL DEFAULT '[]',
    -- what the reading said before this correction
    previous_intent     TEXT
                        CHECK (previous_intent IS NULL OR previous_intent IN ('promise_to_pay', 'dispute',
                               'already_paid', 'payment_plan_request', 'invoice_copy_request', 'auto_reply', 'other')),
    previous_promised_date TEXT,
    -- as read (a decimal string) with its currency
    previous_amount     TEXT,
    previous_currency   TEXT,
    previous_invoices   TEXT NOT NULL DEFAULT '[]',
    -- the whole understanding this correction replaced (JSON, version 1)
    previous_understanding TEXT NOT NULL,
    -- the person who corrected, and who called the API
    corrected_by        TEXT NOT NULL CHECK (length(trim(corrected_by)) > 0),
    actor               TEXT NOT NULL,
    comment             TEXT,
    -- true when it said what the reading said (a confirmation)
    confirmed           INTEGER NOT NULL CHECK (confirmed IN (0, 1)),
    created_at          TEXT NOT NULL,
    CHECK (amount_minor IS NULL OR currency IS NOT NULL)
);
CREATE INDEX reply_corrections_by_message ON reply_corrections (tenant_id, message_id, id);

-- A tenant's model overlay, trained on its corrections (the latest
-- correction per message, its label the corrected intent) on top of the
-- shipped model. `accuracy` is measured on the training set (the
-- corrections it was trained on), `shipped_accuracy` is the shipped
-- model's alone on the same corrections.
CREATE TABLE reply_models (
    tenant_id           TEXT NOT NULL,
    version             INTEGER NOT NULL CHECK (version >= 1),
    trained_at          TEXT NOT NULL,
    examples            INTEGER NOT NULL CHECK (examples >= 0),
    -- the last correction it learned from
    corrections_through INTEGER NOT NULL,
    accuracy            REAL NOT NULL CHECK (accuracy BETWEEN 0 AND 1),
    shipped_accuracy    REAL NOT NULL CHECK (shipped_accuracy BETWEEN 0 AND 1),
    -- `relance_engine::replies::model::Model::to_text`
    overlay             TEXT NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

CREATE TABLE promises_new (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    customer_id     TEXT,
    message_id      INTEGER REFERENCES inbound_messages (id),
    invoice_numbers TEXT NOT NULL DEFAULT '[]',
    promised_date   TEXT,
    amount          TEXT,
    currency        TEXT,
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'kept', 'broken', 'lapsed', 'cancelled')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
INSERT INTO promises_new (id, tenant_id, customer_id, message_id, invoice_numbers, promised_date, amount, currency,
                          status, created_at, updated_at)
     SELECT id, tenant_id, customer_id, message_id, invoice_numbers, promised_date, amount, currency,
            status, created_at, updated_at
       FROM promises;
DROP TABLE promises;
ALTER TABLE promises_new RENAME TO promises;
CREATE INDEX promises_by_customer ON promises (tenant_id, customer_id, status);
