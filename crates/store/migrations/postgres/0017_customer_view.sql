-- PostgreSQL twin of sqlite/0017_customer_view.sql (same tables, columns, keys and indexes;
-- INTEGER -> BIGINT, INTEGER PRIMARY KEY -> identity, BLOB -> BYTEA, REAL ->
-- DOUBLE PRECISION, no WITHOUT ROWID: see crates/store/src/postgres.rs).

-- The customer page (issue #15): every list of one customer is read through
-- an index that starts with (tenant_id, customer_id), so its cost is the
-- customer's rows, never the tenant's.

-- Open items of a customer by due date, the order the page pages them in.
CREATE INDEX invoices_open_by_customer ON invoices (tenant_id, customer_id, due_date, number)
    WHERE status IN ('open', 'partially_paid', 'disputed', 'credit_note');

-- The timeline's "invoice issued" events, newest first.
-- An expression index in both databases (coalesce and substr are the same).
CREATE INDEX invoices_issued_by_customer
    ON invoices (tenant_id, customer_id, coalesce(issue_date, substr(created_at, 1, 10)));

-- The timeline's dispute events (an invoice's `invoice_disputed` and
-- `dispute_resolved` audit events, found by the invoice's subject).
CREATE INDEX audit_disputes ON audit_events (tenant_id, subject, id)
    WHERE kind IN ('invoice_disputed', 'dispute_resolved');

CREATE INDEX tasks_by_customer ON tasks (tenant_id, customer_id, id);
CREATE INDEX inbound_by_customer ON inbound_messages (tenant_id, customer_id, id);

-- Payments not (fully) allocated, by the account they came from: with the
-- customer's known accounts, those the customer probably paid.
CREATE INDEX customer_ibans_by_customer ON customer_ibans (tenant_id, customer_id);
CREATE INDEX payments_unapplied_by_iban ON payments (tenant_id, counterparty_iban)
    WHERE unallocated_minor > 0 AND direction = 'credit' AND reversal = 0;
