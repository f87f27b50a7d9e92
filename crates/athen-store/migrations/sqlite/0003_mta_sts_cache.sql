-- MTA-STS policies of recipient domains, kept for their max_age
-- (RFC 8461 §5.1) so a restart does not reopen the downgrade window.
CREATE TABLE mta_sts_policies (
    domain TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
