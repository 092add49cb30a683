-- Bank-aware holds and payment claims (issue #18).
--
-- * `holds` gains its kind: `manual` (a person's, as before), `credit_review`
--   (Relance holds a customer's reminders while a credit from it awaits
--   review; lifted when the credit is applied or rejected) and
--   `claimed_paid` (the customer says it paid: held for a number of days
--   while the payment is looked for). `payment_id` is the credit a hold is
--   about, `message_id` the reply that led to it.
-- * `outbox.in_reply_to`: the Message-ID a message answers (a proof-of-payment
--   request is threaded to the customer's reply).
-- * `payment_claims`: "we already paid" replies being followed: open (the
--   payment is looked for, reminders held, proof requested), credit_found (a
--   credit was linked for review), closed (settled, or the hold ran out).

ALTER TABLE holds ADD COLUMN kind TEXT NOT NULL DEFAULT 'manual'
    CHECK (kind IN ('manual', 'credit_review', 'claimed_paid'));
ALTER TABLE holds ADD COLUMN payment_id INTEGER REFERENCES payments (id);
ALTER TABLE holds ADD COLUMN message_id INTEGER REFERENCES inbound_messages (id);
CREATE INDEX holds_by_payment ON holds (tenant_id, payment_id) WHERE payment_id IS NOT NULL;

ALTER TABLE outbox ADD COLUMN in_reply_to TEXT;

CREATE TABLE payment_claims (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    message_id      INTEGER NOT NULL REFERENCES inbound_messages (id),
    -- JSON list of the invoices the customer says it paid (as stored)
    invoice_numbers TEXT NOT NULL,
    -- the amount and currency as stated in the reply, if any
    amount          TEXT,
    currency        TEXT,
    -- JSON list of the references the reply wrote
    refs            TEXT NOT NULL DEFAULT '[]',
    -- the address that wrote and the reply's Message-ID (the proof request answers it)
    reply_to        TEXT,
    reply_message   TEXT,
    claimed_on      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'credit_found', 'closed')),
    payment_id      INTEGER REFERENCES payments (id),
    -- the last day reminders are held for it (set when the hold is placed)
    hold_until      TEXT,
    -- the outbox row of the proof-of-payment request
    proof_outbox_id INTEGER REFERENCES outbox (id),
    note            TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (tenant_id, message_id)
);
CREATE INDEX payment_claims_by_status ON payment_claims (tenant_id, status);
