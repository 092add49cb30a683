-- Typed cash application.
--
-- * `payments.status`, `direction` and `reversal` only take the values the
--   code knows (`PaymentStatus`, `Direction` in relance-domain): a CHECK
--   refuses anything else.
-- * `payments.match_result` is the matcher's `MatchResult` as JSON, and
--   `match_result_version` the version of that JSON (1 today); both are set
--   together or not at all. Results stored before this migration are
--   version 1 (the same JSON).
--
-- SQLite cannot add a CHECK to an existing column: the table is rebuilt
-- (create, copy, drop, rename, indexes). The migration runner switches
-- foreign keys off around the migrations (allocations reference payments)
-- and checks them all before committing.

CREATE TABLE payments_typed (
    id                   INTEGER PRIMARY KEY,
    tenant_id            TEXT NOT NULL,
    dedupe_key           TEXT NOT NULL,
    source               TEXT NOT NULL,
    file_id              INTEGER REFERENCES statement_files (id),
    account              TEXT,
    booking_date         TEXT NOT NULL,
    value_date           TEXT,
    amount_minor         INTEGER NOT NULL,
    currency             TEXT NOT NULL,
    direction            TEXT NOT NULL CHECK (direction IN ('credit', 'debit')),
    reversal             INTEGER NOT NULL DEFAULT 0 CHECK (reversal IN (0, 1)),
    counterparty_name    TEXT,
    counterparty_iban    TEXT,
    remittance           TEXT,
    structured_ref       TEXT,
    end_to_end_id        TEXT,
    bank_ref             TEXT,
    -- new (to match) | matched | suggested | unmatched | rejected | ignored (debits, reversals)
    status               TEXT NOT NULL
        CHECK (status IN ('new', 'matched', 'suggested', 'unmatched', 'rejected', 'ignored')),
    match_result         TEXT,               -- JSON of relance_engine::matching::MatchResult
    match_result_version INTEGER CHECK (match_result_version >= 1),
    unallocated_minor    INTEGER NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (tenant_id, dedupe_key),
    CHECK ((match_result IS NULL) = (match_result_version IS NULL))
);

INSERT INTO payments_typed (id, tenant_id, dedupe_key, source, file_id, account, booking_date, value_date,
                            amount_minor, currency, direction, reversal, counterparty_name, counterparty_iban,
                            remittance, structured_ref, end_to_end_id, bank_ref, status, match_result,
                            match_result_version, unallocated_minor, created_at, updated_at)
     SELECT id, tenant_id, dedupe_key, source, file_id, account, booking_date, value_date,
            amount_minor, currency, direction, reversal, counterparty_name, counterparty_iban,
            remittance, structured_ref, end_to_end_id, bank_ref, status, match_result,
            CASE WHEN match_result IS NULL THEN NULL ELSE 1 END, unallocated_minor, created_at, updated_at
       FROM payments;

DROP TABLE payments;
ALTER TABLE payments_typed RENAME TO payments;
CREATE INDEX payments_by_status ON payments (tenant_id, status);
