-- The admin lists of accounts and keys page oldest first by (created_at, id): without these, each
-- page read and sorted the whole table (or all of an account's keys). Small tables, so plain builds
-- (they hold writes to the table back for as long as they take).
CREATE INDEX accounts_created ON accounts (created_at, id);
CREATE INDEX api_keys_created ON api_keys (created_at, id);
CREATE INDEX api_keys_account_created ON api_keys (account_id, created_at, id);
DROP INDEX api_keys_account;
