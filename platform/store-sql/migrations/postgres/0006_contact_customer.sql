-- The customer's identity (phone number, e-mail) as a column: their history across channels.
-- PostgreSQL flavour (keep in step with ../sqlite).
ALTER TABLE contacts ADD COLUMN customer TEXT;
UPDATE contacts SET customer = body::jsonb ->> 'customer';
CREATE INDEX contacts_customer ON contacts (tenant_id, customer, enqueued_at);
