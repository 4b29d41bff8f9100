-- Metered usage and its reports to Stripe, PostgreSQL flavour (keep in step with ../sqlite).
-- A record is unique per (tenant, kind, source): the same call or message counts once. Sealing
-- assigns unreported records to a report in one transaction; the report's id is the identifier
-- Stripe deduplicates on, so a report resent after a crash counts once.
CREATE TABLE usage_records (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    at BIGINT NOT NULL,
    report_id TEXT,
    PRIMARY KEY (tenant_id, kind, source)
);
CREATE INDEX usage_records_at ON usage_records (tenant_id, at);
CREATE INDEX usage_records_unreported ON usage_records (tenant_id, kind) WHERE report_id IS NULL;

CREATE TABLE usage_reports (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    sealed_at BIGINT NOT NULL,
    sent_at BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX usage_reports_unsent ON usage_reports (tenant_id, sealed_at) WHERE sent_at IS NULL;

ALTER TABLE usage_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_records
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE usage_reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_reports FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_reports
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
