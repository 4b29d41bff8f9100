-- Text-channel messages and SMS opt-outs; contacts get a conversation thread key.
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
