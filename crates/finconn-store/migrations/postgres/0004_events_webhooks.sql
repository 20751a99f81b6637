-- Events, webhook endpoints, deliveries and their attempts.
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    type TEXT NOT NULL,
    created BIGINT NOT NULL,
    pending_webhooks BIGINT NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX events_by_account ON events (account_id, livemode, seq);
CREATE INDEX events_by_created ON events (created);

CREATE TABLE webhook_endpoints (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account_id, livemode, seq);

CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    seq BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL,
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    endpoint_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, seq);
