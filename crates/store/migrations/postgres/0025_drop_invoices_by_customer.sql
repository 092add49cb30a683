-- Twin of sqlite/0025: `invoices_by_customer (tenant_id, customer_id)` is a
-- prefix of `invoices_issued_by_customer`, which serves every query it served.
DROP INDEX IF EXISTS invoices_by_customer;
DELETE FROM deferred_indexes WHERE name = 'invoices_by_customer';
