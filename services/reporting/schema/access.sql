-- Reporting's keys (services/reporting/auth.py). Not a read model: nothing rebuilds it, and a
-- rebuild leaves it alone. Only the SHA-256 of each secret is kept.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id          text PRIMARY KEY,
    key_hash        text        NOT NULL UNIQUE,
    name            text        NOT NULL,
    role            text        NOT NULL,
    scope           text,       -- an area code at any level; NULL: the whole city
    rate_per_minute integer     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
