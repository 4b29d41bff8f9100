-- Contacts and their lifecycle events, PostgreSQL flavour (keep in step with ../sqlite).
CREATE TABLE contacts (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    channel TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    state TEXT NOT NULL,
    agent_id TEXT,
    enqueued_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX contacts_open ON contacts (tenant_id, state, enqueued_at);

CREATE TABLE contact_events (
    tenant_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, seq),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts(tenant_id, id) ON DELETE CASCADE
);

ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contacts
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE contact_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE contact_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contact_events
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
