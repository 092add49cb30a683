-- Messages read from collections mailboxes. The raw message is written to
-- disk (raw_path) and this row inserted before the message is understood or
-- moved on the server; (mailbox, uidvalidity, uid) says where it was read.
CREATE TABLE inbound_messages (
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
    status        TEXT NOT NULL,
    intent        TEXT,
    understanding TEXT,
    error         TEXT,
    -- folder the message was moved to on the server, once moved
    moved_to      TEXT,
    -- the customer it came from (sender address, else the invoices it names)
    customer_id   TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (tenant_id, source, mailbox, uidvalidity, uid)
);
CREATE INDEX inbound_by_hash ON inbound_messages (tenant_id, source, mailbox, sha256);
CREATE INDEX inbound_by_status ON inbound_messages (tenant_id, status);

-- Promises to pay: reminders pause until the date; checked when it passes.
CREATE TABLE promises (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    customer_id     TEXT,
    message_id      INTEGER REFERENCES inbound_messages (id),
    invoice_numbers TEXT NOT NULL DEFAULT '[]',
    promised_date   TEXT,
    amount          TEXT,
    currency        TEXT,
    status          TEXT NOT NULL,            -- pending | kept | broken
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX promises_by_customer ON promises (tenant_id, customer_id, status);

-- Work for a human: disputes, payment plans, proofs of payment, bad contacts.
CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    customer_id     TEXT,
    message_id      INTEGER REFERENCES inbound_messages (id),
    invoice_numbers TEXT NOT NULL DEFAULT '[]',
    note            TEXT NOT NULL,
    status          TEXT NOT NULL,            -- open | done
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX tasks_by_status ON tasks (tenant_id, status);
