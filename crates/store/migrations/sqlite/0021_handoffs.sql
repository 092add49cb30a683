-- Hand-off to a collection agency (issue #18): a customer handed over by a
-- scenario's hand-off step gets no reminder any more until a person
-- reverses the hand-off. At most one active (not reversed) hand-off per
-- customer. `dossier` is the JSON list of the files written for the agency.

CREATE TABLE handoffs (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    scenario        TEXT NOT NULL,
    step_id         TEXT NOT NULL,
    -- the outbox row of the hand-off step, if any
    outbox_id       INTEGER REFERENCES outbox (id),
    handed_over_on  TEXT NOT NULL,            -- YYYY-MM-DD
    handed_over_at  TEXT NOT NULL,            -- RFC 3339 UTC
    dossier         TEXT NOT NULL DEFAULT '[]',
    reversed_at     TEXT,
    reversed_by     TEXT,
    reverse_note    TEXT
);
CREATE UNIQUE INDEX handoffs_one_active ON handoffs (tenant_id, customer_id) WHERE reversed_at IS NULL;
CREATE INDEX handoffs_by_customer ON handoffs (tenant_id, customer_id, id);
