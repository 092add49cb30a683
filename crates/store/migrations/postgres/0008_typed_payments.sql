-- Typed cash application. PostgreSQL twin of sqlite/0008.
--
-- SQLite adds a CHECK only by rebuilding `payments` (create, copy, drop,
-- rename); PostgreSQL alters the table in place. The new column
-- `match_result_version` is appended (SQLite puts it after `match_result`):
-- the store names its columns, never relies on their order. The SQLite copy
-- sets the version of stored results to 1; an empty PostgreSQL schema has
-- none (the UPDATE is kept so the two say the same thing).
ALTER TABLE payments ADD CONSTRAINT payments_direction_check CHECK (direction IN ('credit', 'debit'));
ALTER TABLE payments ADD CONSTRAINT payments_reversal_check CHECK (reversal IN (0, 1));
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('new', 'matched', 'suggested', 'unmatched', 'rejected', 'ignored'));
ALTER TABLE payments ADD COLUMN match_result_version BIGINT CHECK (match_result_version >= 1);
UPDATE payments SET match_result_version = 1 WHERE match_result IS NOT NULL;
ALTER TABLE payments ADD CONSTRAINT payments_match_result_check
    CHECK ((match_result IS NULL) = (match_result_version IS NULL));
