-- Relance schema, version 1. One database per deployment; every row carries
-- tenant_id. Money is stored as integer minor units next to its ISO 4217 code.
-- Dates are ISO 8601 text (YYYY-MM-DD), timestamps RFC 3339 UTC text.

CREATE TABLE customers (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,            -- the ERP's customer id
    name        TEXT NOT NULL,
    emails      TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
    phones      TEXT NOT NULL DEFAULT '[]',
    segment     TEXT,
    language    TEXT,
    timezone    TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;

-- Bank accounts known to belong to a customer (from ERP data or learned from payments).
CREATE TABLE customer_ibans (
    tenant_id   TEXT NOT NULL,
    iban        TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    origin      TEXT NOT NULL,            -- 'source' | 'learned'
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, iban, customer_id)
) WITHOUT ROWID;

CREATE TABLE invoices (
    tenant_id   TEXT NOT NULL,
    number      TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    issue_date  TEXT,
    due_date    TEXT NOT NULL,
    currency    TEXT NOT NULL,
    total_minor INTEGER NOT NULL,
    open_minor  INTEGER NOT NULL,
    status      TEXT NOT NULL,
    source      TEXT NOT NULL,            -- connector that owns the invoice
    last_import INTEGER,                  -- imports.id that last saw it
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, number)
) WITHOUT ROWID;
CREATE INDEX invoices_by_customer ON invoices (tenant_id, customer_id);
-- Status lists and counts (API filters, metrics) without sorting the table.
CREATE INDEX invoices_by_status ON invoices (tenant_id, status);

-- One row per unit of input (a file by content hash, an API page cursor…).
-- `position` is the number of records already applied: a restart resumes there.
CREATE TABLE imports (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    source        TEXT NOT NULL,
    unit          TEXT NOT NULL,
    label         TEXT NOT NULL,
    full_export   INTEGER NOT NULL,
    state         TEXT NOT NULL,          -- 'running' | 'done' | 'quarantined'
    position      INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL DEFAULT 0,
    updated       INTEGER NOT NULL DEFAULT 0,
    unchanged     INTEGER NOT NULL DEFAULT 0,
    quarantined   INTEGER NOT NULL DEFAULT 0,
    closed        INTEGER NOT NULL DEFAULT 0,
    close_blocked INTEGER NOT NULL DEFAULT 0,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    UNIQUE (tenant_id, source, unit)
);

CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    source      TEXT NOT NULL,
    item        TEXT NOT NULL,
    line        INTEGER,
    column_name TEXT,
    reason      TEXT NOT NULL,
    raw         TEXT,
    raw_path    TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX quarantine_by_tenant ON quarantine (tenant_id, id);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_tenant ON audit_events (tenant_id, id);

-- Small durable key/value state per connector (cursors, checkpoints).
CREATE TABLE connector_state (
    tenant_id   TEXT NOT NULL,
    connector   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, connector, key)
) WITHOUT ROWID;
