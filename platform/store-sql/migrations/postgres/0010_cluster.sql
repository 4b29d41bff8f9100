-- Distributed mode, postgres flavour (keep in step with ../sqlite): leases (who drives each
-- routing shard, which replicas are alive) and agents' presence, so a shard that moves to another
-- replica keeps its agents available.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    -- Grows whenever the lease changes hands: a fencing token.
    epoch BIGINT NOT NULL,
    -- Milliseconds by the database's clock, so replicas' clocks do not matter.
    expires_at BIGINT NOT NULL
);

CREATE TABLE agent_presence (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    presence TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

ALTER TABLE agent_presence ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_presence FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agent_presence
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
