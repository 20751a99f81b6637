-- Test mode: an institution a tenant's test helper took down (`…/institutions/{institution}/downtime`).
CREATE TABLE institution_downtimes (
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    institution_id TEXT NOT NULL,
    created BIGINT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, livemode, institution_id)
);
