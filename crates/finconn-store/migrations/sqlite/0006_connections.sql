-- Live connections: one credential at a data provider (sealed by the vault inside `data`) and the linked
-- accounts whose data comes from it.
CREATE TABLE connections (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX connections_by_status ON connections (status, created);

ALTER TABLE fc_accounts ADD COLUMN connection_id TEXT;
CREATE INDEX fc_accounts_by_connection ON fc_accounts (connection_id);
