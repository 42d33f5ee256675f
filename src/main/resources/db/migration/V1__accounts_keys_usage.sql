-- Accounts, API keys, the money ledger and one usage record per upstream call.
-- Money is integer micro-USD everywhere.

CREATE TABLE accounts (
    id                text PRIMARY KEY,
    name              text        NOT NULL,
    email             text        NOT NULL,
    password_hash     text,
    status            text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    balance_micro_usd bigint      NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_email ON accounts (lower(email));

CREATE TABLE api_keys (
    id                    text PRIMARY KEY,
    account_id            text        NOT NULL REFERENCES accounts (id),
    key_hash              bytea       NOT NULL UNIQUE,
    prefix                text        NOT NULL,
    name                  text        NOT NULL,
    status                text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'revoked')),
    allowed_models        text[],
    rpm                   integer,
    tpm                   integer,
    monthly_cap_micro_usd bigint,
    expires_at            timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    revoked_at            timestamptz
);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

-- Admin keys that TokenHub generated itself (the bootstrap key); the configured master key is never stored.
CREATE TABLE admin_keys (
    id         text PRIMARY KEY,
    key_hash   bytea       NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Every change of a balance is one row; the balance is their sum.
CREATE TABLE ledger (
    id                      bigserial PRIMARY KEY,
    account_id              text        NOT NULL REFERENCES accounts (id),
    amount_micro_usd        bigint      NOT NULL,
    balance_after_micro_usd bigint      NOT NULL,
    kind                    text        NOT NULL,
    reason                  text,
    request_id              text,
    created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_account ON ledger (account_id, id);
CREATE UNIQUE INDEX ledger_request ON ledger (request_id, kind) WHERE request_id IS NOT NULL;

-- One row per request that reached an upstream; the primary key makes retried writes idempotent.
CREATE TABLE usage_records (
    request_id        text PRIMARY KEY,
    created_at        timestamptz NOT NULL,
    account_id        text        NOT NULL,
    key_id            text        NOT NULL,
    requested_model   text        NOT NULL,
    served_model      text,
    provider          text,
    deployment        text,
    prompt_tokens     integer     NOT NULL DEFAULT 0,
    cached_tokens     integer     NOT NULL DEFAULT 0,
    completion_tokens integer     NOT NULL DEFAULT 0,
    reasoning_tokens  integer     NOT NULL DEFAULT 0,
    cost_micro_usd    bigint      NOT NULL DEFAULT 0,
    price_version     text,
    latency_ms        integer     NOT NULL DEFAULT 0,
    ttft_ms           integer,
    status            integer     NOT NULL,
    error_code        text,
    stream            boolean     NOT NULL DEFAULT false,
    fallback          boolean     NOT NULL DEFAULT false,
    estimated         boolean     NOT NULL DEFAULT false
);
CREATE INDEX usage_account_time ON usage_records (account_id, created_at DESC, request_id DESC);
CREATE INDEX usage_key_time ON usage_records (key_id, created_at DESC);
CREATE INDEX usage_time ON usage_records (created_at DESC, request_id DESC);
