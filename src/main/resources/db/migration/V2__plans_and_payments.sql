-- Token plans, and how each request was paid (plan tokens and wallet money), so that settling
-- a usage record moves exactly its own amounts, once.

CREATE TABLE token_plans (
    id               text PRIMARY KEY,
    account_id       text        NOT NULL REFERENCES accounts (id),
    tokens_total     bigint      NOT NULL CHECK (tokens_total > 0),
    tokens_remaining bigint      NOT NULL,
    valid_from       timestamptz NOT NULL,
    valid_until      timestamptz NOT NULL,
    models           text[],
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until > valid_from)
);
CREATE INDEX token_plans_account ON token_plans (account_id, valid_until);

ALTER TABLE usage_records
    ADD COLUMN wallet_micro_usd bigint NOT NULL DEFAULT 0,
    ADD COLUMN plan_draws       jsonb;
