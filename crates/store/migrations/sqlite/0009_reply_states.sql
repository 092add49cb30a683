-- Reply states as enums (issue: reply side of the architecture).
--
-- The string state columns of the reply side get CHECK constraints with the
-- values of their Rust enums (`relance_domain::replies`, and
-- `relance_engine::replies::Intent` for `intent`), and the stored
-- understanding of a message gets its version: `understanding_version`
-- (NULL exactly when `understanding` is NULL), 1 for the rows written before
-- (`relance_engine::replies::UNDERSTANDING_VERSION` says the current one).
--
-- SQLite adds a CHECK to an existing column only by rebuilding the table:
-- create the new table, copy, drop the old one, rename, recreate the
-- indexes. `promises` and `tasks` reference `inbound_messages`: the
-- migration runner turns foreign keys off while it runs and checks them all
-- before it commits (`PRAGMA foreign_key_check`).

CREATE TABLE inbound_messages_new (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    source        TEXT NOT NULL,
    mailbox       TEXT NOT NULL,
    uidvalidity   INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    raw_path      TEXT NOT NULL,
    message_id    TEXT,
    from_addr     TEXT,
    subject       TEXT,
    -- stored (read, not yet understood) | handled | review | quarantined
    status        TEXT NOT NULL
                  CHECK (status IN ('stored', 'handled', 'review', 'quarantined')),
    intent        TEXT
                  CHECK (intent IS NULL OR intent IN ('promise_to_pay', 'dispute', 'already_paid',
                         'payment_plan_request', 'invoice_copy_request', 'auto_reply', 'other')),
    -- JSON of the understanding, `{}` when nothing could be read
    understanding TEXT,
    understanding_version INTEGER
                  CHECK ((understanding IS NULL) = (understanding_version IS NULL)
                         AND (understanding_version IS NULL OR understanding_version >= 1)),
    error         TEXT,
    -- folder the message was moved to on the server, once moved
    moved_to      TEXT,
    -- the customer it came from (the reminder it answers, else the sender
    -- address, else the invoices it names)
    customer_id   TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (tenant_id, source, mailbox, uidvalidity, uid)
);
INSERT INTO inbound_messages_new (id, tenant_id, source, mailbox, uidvalidity, uid, sha256, size, raw_path,
                                  message_id, from_addr, subject, status, intent, understanding,
                                  understanding_version, error, moved_to, customer_id, created_at, updated_at)
     SELECT id, tenant_id, source, mailbox, uidvalidity, uid, sha256, size, raw_path,
            message_id, from_addr, subject, status, intent, understanding,
            CASE WHEN understanding IS NULL THEN NULL ELSE 1 END, error, moved_to, customer_id, created_at, updated_at
       FROM inbound_messages;
DROP TABLE inbound_messages;
ALTER TABLE inbound_messages_new RENAME TO inbound_messages;
CREATE INDEX inbound_by_hash ON inbound_messages (tenant_id, source, mailbox, sha256);
CREATE INDEX inbound_by_status ON inbound_messages (tenant_id, status);

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
                    CHECK (status IN ('pending', 'kept', 'broken', 'lapsed')),
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

CREATE TABLE tasks_new (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    kind            TEXT NOT NULL
                    CHECK (kind IN ('dispute', 'awaiting_proof', 'check_payment', 'payment_plan', 'contact', 'call')),
    customer_id     TEXT,
    message_id      INTEGER REFERENCES inbound_messages (id),
    invoice_numbers TEXT NOT NULL DEFAULT '[]',
    note            TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('open', 'done')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
INSERT INTO tasks_new (id, tenant_id, kind, customer_id, message_id, invoice_numbers, note, status, created_at, updated_at)
     SELECT id, tenant_id, kind, customer_id, message_id, invoice_numbers, note, status, created_at, updated_at
       FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;
CREATE INDEX tasks_by_status ON tasks (tenant_id, status);
