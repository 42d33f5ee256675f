-- Web console sign-ins of account holders: a random token shown once to the browser, stored only as
-- its SHA-256, valid until it expires or the holder signs out.
CREATE TABLE console_sessions (
    token_hash bytea PRIMARY KEY,
    account_id text        NOT NULL REFERENCES accounts (id),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
