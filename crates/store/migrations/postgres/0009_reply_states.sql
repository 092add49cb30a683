-- Reply states as enums. PostgreSQL twin of sqlite/0009.
--
-- SQLite rebuilds `inbound_messages`, `promises` and `tasks` to add CHECKs;
-- PostgreSQL adds named constraints in place (0013 and 0014 replace some of
-- them by name). `understanding_version` is appended rather than placed
-- after `understanding`: the store names its columns.
ALTER TABLE inbound_messages ADD CONSTRAINT inbound_messages_status_check
    CHECK (status IN ('stored', 'handled', 'review', 'quarantined'));
ALTER TABLE inbound_messages ADD CONSTRAINT inbound_messages_intent_check
    CHECK (intent IS NULL OR intent IN ('promise_to_pay', 'dispute', 'already_paid',
           'payment_plan_request', 'invoice_copy_request', 'auto_reply', 'other'));
ALTER TABLE inbound_messages ADD COLUMN understanding_version BIGINT;
UPDATE inbound_messages SET understanding_version = 1 WHERE understanding IS NOT NULL;
ALTER TABLE inbound_messages ADD CONSTRAINT inbound_messages_understanding_version_check
    CHECK ((understanding IS NULL) = (understanding_version IS NULL)
           AND (understanding_version IS NULL OR understanding_version >= 1));

ALTER TABLE promises ADD CONSTRAINT promises_status_check
    CHECK (status IN ('pending', 'kept', 'broken', 'lapsed'));

ALTER TABLE tasks ADD CONSTRAINT tasks_kind_check
    CHECK (kind IN ('dispute', 'awaiting_proof', 'check_payment', 'payment_plan', 'contact', 'call'));
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check CHECK (status IN ('open', 'done'));
