-- Logs of one key are read newest first by (created_at, request_id), the same order as the account
-- and global indexes. V1's (key_id, created_at DESC) could not give that order for ties, so a key's
-- logs page was a bitmap scan of the whole range and a sort of every matching record; with
-- request_id in the index it is an ordered index scan that stops after one page. The new index
-- serves everything the old one did (the monthly cap's month-to-date sum by key), so it replaces it.
CREATE INDEX usage_key_time_id ON usage_records (key_id, created_at DESC, request_id DESC);
DROP INDEX usage_key_time;
