-- Interval statistics read a tenant's events by time.
CREATE INDEX contact_events_at ON contact_events (tenant_id, at);
