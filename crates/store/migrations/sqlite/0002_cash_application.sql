-- Cash application: statement files, payments, allocations, ERP write-back outbox.

-- One row per statement file, by content: a file is stored once.
CREATE TABLE statement_files (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    source      TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    label       TEXT NOT NULL,
    kept_path   TEXT,
    format      TEXT,
    transactions INTEGER NOT NULL DEFAULT 0,
    received_at TEXT NOT NULL,
    UNIQUE (tenant_id, sha256)
);

-- Every bank transaction, stored once per tenant (dedupe_key survives
-- re-imports and overlapping statements). Debits are stored, not matched.
CREATE TABLE payments (
    id                INTEGER PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    dedupe_key        TEXT NOT NULL,
    source            TEXT NOT NULL,
    file_id           INTEGER REFERENCES statement_files (id),
    account           TEXT,
    booking_date      TEXT NOT NULL,
    value_date        TEXT,
    amount_minor      INTEGER NOT NULL,
    currency          TEXT NOT NULL,
    direction         TEXT NOT NULL,          -- credit | debit
    reversal          INTEGER NOT NULL DEFAULT 0,
    counterparty_name TEXT,
    counterparty_iban TEXT,
    remittance        TEXT,
    structured_ref    TEXT,
    end_to_end_id     TEXT,
    bank_ref          TEXT,
    -- new (to match) | matched | suggested | unmatched | rejected | ignored (debits, reversals)
    status            TEXT NOT NULL,
    match_result      TEXT,                   -- JSON: ranked candidates with reasons
    unallocated_minor INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX payments_by_status ON payments (tenant_id, status);

CREATE TABLE allocations (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    payment_id      INTEGER NOT NULL REFERENCES payments (id),
    invoice_number  TEXT NOT NULL,
    amount_minor    INTEGER NOT NULL,
    write_off_minor INTEGER NOT NULL DEFAULT 0,
    currency        TEXT NOT NULL,
    actor           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    undone_at       TEXT,
    undone_by       TEXT
);
CREATE INDEX allocations_by_payment ON allocations (tenant_id, payment_id);

-- Notices for the ERP, written in the same transaction as what they report;
-- delivered by the tenant's write-back connectors.
CREATE TABLE writeback_outbox (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    allocation_id INTEGER NOT NULL REFERENCES allocations (id),
    reversal      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    delivered_at  TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT
);
CREATE INDEX writeback_pending ON writeback_outbox (tenant_id, delivered_at);
