-- The customer's identity (phone number, e-mail) as a column: their history across channels.
ALTER TABLE contacts ADD COLUMN customer TEXT;
UPDATE contacts SET customer = json_extract(body, '$.customer');
CREATE INDEX contacts_customer ON contacts (tenant_id, customer, enqueued_at);
