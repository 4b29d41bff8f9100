-- Tenant plugins' key-value store and the record of their calls, postgres flavour (keep in step
-- with ../sqlite). Plugin versions, grants and secrets are documents.
CREATE TABLE plugin_kv (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE plugin_calls (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    plugin TEXT NOT NULL,
    version BIGINT NOT NULL,
    hook TEXT NOT NULL,
    contact_id TEXT,
    at BIGINT NOT NULL,
    duration_us BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    logs TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX plugin_calls_by_plugin ON plugin_calls (tenant_id, plugin, id);
CREATE INDEX plugin_calls_at ON plugin_calls (tenant_id, at);

ALTER TABLE plugin_kv ENABLE ROW LEVEL SECURITY;
ALTER TABLE plugin_kv FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON plugin_kv
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE plugin_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE plugin_calls FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON plugin_calls
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
