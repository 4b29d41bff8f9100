-- Distributed mode (keep both flavours in step): the deployment's edge media nodes as the
-- replicas holding their control links last heard them, so every replica knows every edge, its
-- region, headroom and registered phones, and which ones are alive (by the database's clock).
CREATE TABLE edges (
    edge_id TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    -- Its SIP address as peers reach it.
    sip TEXT NOT NULL,
    active_calls BIGINT NOT NULL,
    -- JSON array of the SIP user names of the phones registered with it.
    registered TEXT NOT NULL,
    -- The replica holding its link.
    replica TEXT NOT NULL,
    -- Milliseconds by the database's clock.
    heard_at BIGINT NOT NULL
);
