-- Text-channel messages and SMS opt-outs, PostgreSQL flavour (keep in step with ../sqlite).
ALTER TABLE contacts ADD COLUMN thread_key TEXT;
CREATE INDEX contacts_thread ON contacts (tenant_id, thread_key, state);

CREATE TABLE messages (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    contact_id TEXT,
    provider_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, provider_id)
);
CREATE INDEX messages_contact ON messages (tenant_id, contact_id, at);

CREATE TABLE sms_opt_outs (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    our_number TEXT NOT NULL,
    their_number TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, our_number, their_number)
);

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON messages
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE sms_opt_outs ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_opt_outs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sms_opt_outs
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
