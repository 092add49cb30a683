-- Payment plans (issue #14): a plan request read from a customer's reply
-- becomes a draft plan, which a person accepts (possibly with edited
-- instalments) or rejects through the API. An accepted plan pauses the
-- reminders of the invoices it covers while its instalments are paid on
-- time; a missed instalment breaks it, a full payment completes it.
--
-- `status` takes the values of `relance_engine::dunning::plan::PlanStatus`.
-- Payments count toward the instalments as the decrease of the covered
-- invoices' open amounts since acceptance: `open_at_acceptance_minor` is
-- their open amount when the plan was accepted (NULL before).

CREATE TABLE payment_plans (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    -- the reply it was read from (NULL for a plan entered otherwise)
    message_id      INTEGER REFERENCES inbound_messages (id),
    -- JSON list of the invoice numbers it covers
    invoice_numbers TEXT NOT NULL DEFAULT '[]',
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('draft', 'accepted', 'rejected', 'completed', 'broken')),
    -- JSON of the proposal as read (`relance_engine::replies::proposal::PlanProposal`)
    proposal        TEXT NOT NULL DEFAULT '{}',
    open_at_acceptance_minor INTEGER,
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    decided_by      TEXT,
    decided_at      TEXT,
    decision_note   TEXT,
    -- why it was broken or completed (the missed instalment…)
    closed_note     TEXT,
    updated_at      TEXT NOT NULL,
    CHECK ((status = 'draft') = (decided_by IS NULL)),
    CHECK (status IN ('draft', 'rejected') OR open_at_acceptance_minor IS NOT NULL)
);
CREATE INDEX payment_plans_by_status ON payment_plans (tenant_id, status);
CREATE UNIQUE INDEX payment_plans_one_per_message ON payment_plans (tenant_id, message_id)
    WHERE message_id IS NOT NULL;
-- One plan in force per customer.
CREATE UNIQUE INDEX payment_plans_one_accepted ON payment_plans (tenant_id, customer_id)
    WHERE status = 'accepted';

CREATE TABLE plan_instalments (
    plan_id         INTEGER NOT NULL REFERENCES payment_plans (id) ON DELETE CASCADE,
    -- 1, 2, … in order of due dates
    number          INTEGER NOT NULL CHECK (number >= 1),
    -- NULL in a draft when the customer stated no date
    due_date        TEXT,
    -- NULL in a draft when the amount could not be computed
    amount_minor    INTEGER CHECK (amount_minor IS NULL OR amount_minor > 0),
    currency        TEXT NOT NULL,
    -- JSON list of the invoice numbers it pays toward
    invoice_numbers TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (plan_id, number)
);
