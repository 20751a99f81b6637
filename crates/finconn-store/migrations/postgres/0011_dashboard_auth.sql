-- The dashboard's sign-ins. Neither table holds a secret: only the SHA-256 (hex) of a link's token or of a
-- session's id, looked up by that digest.
-- One-time sign-in links (`finconn dashboard-link`): used once, by an UPDATE that needs used_at IS NULL and
-- expires_at in the future, so two uses (in any processes) cannot both succeed.
CREATE TABLE dashboard_links (
    hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX dashboard_links_by_account ON dashboard_links (account_id);
CREATE INDEX dashboard_links_by_expiry ON dashboard_links (expires_at);
-- Signed-in dashboard sessions: the cookie names one (signed); every dashboard request reads it by hash;
-- signing out deletes it, `finconn dashboard-link --revoke-all` deletes an account's.
CREATE TABLE dashboard_sessions (
    hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    can_test BOOLEAN NOT NULL,
    can_live BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_by_account ON dashboard_sessions (account_id);
CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions (expires_at);
