-- One meaning for "outbox". PostgreSQL twin of sqlite/0010.
--
-- The rename keeps the index `writeback_pending` (as in SQLite). SQLite
-- rebuilds `outbox` to add the status CHECK and turns any unknown status
-- into `failed` while copying; PostgreSQL repairs the same rows with an
-- UPDATE (none exist in a new schema) and adds the CHECK in place.
ALTER TABLE writeback_outbox RENAME TO writeback_queue;

UPDATE outbox
   SET status = 'failed',
       last_error = 'unknown status `' || status || '` found by migration 0010' || coalesce(': ' || last_error, '')
 WHERE status NOT IN ('queued', 'sending', 'sent', 'failed', 'cancelled');
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled'));
