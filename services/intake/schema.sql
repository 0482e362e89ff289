-- Intake's own tables beside the event store.
CREATE SEQUENCE IF NOT EXISTS case_number_seq;

-- A retried POST with the same Idempotency-Key gets the first answer back.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key          text PRIMARY KEY,
    request_hash text        NOT NULL,
    status_code  integer     NOT NULL,
    response     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The contact vault: each resident's data key (wrapped by the master key) encrypts their
-- contacts. Destroying the key makes every copy of the contact unreadable (crypto-shredding).
CREATE TABLE IF NOT EXISTS resident_keys (
    resident_ref text PRIMARY KEY,
    wrapped_key  bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS contacts (
    complaint_id uuid PRIMARY KEY,
    resident_ref text        NOT NULL,
    nonce        bytea       NOT NULL,
    ciphertext   bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
