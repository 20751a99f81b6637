-- Linked financial_connections.account objects.
CREATE TABLE fc_accounts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    session_id TEXT NOT NULL,
    holder_customer TEXT,
    holder_account TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX fc_accounts_by_account ON fc_accounts (account_id, livemode, seq);
CREATE INDEX fc_accounts_by_session ON fc_accounts (session_id);
