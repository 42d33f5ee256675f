-- Charges the hot counters in Redis may not have taken: a settlement (or a share's renewal) that
-- Redis did not answer in time was charged to the wallet here, and to Redis's later, by the node
-- that made it. A row is deleted once Redis took the charge. One still here when it is due (its node
-- stopped, crashed or gave up) gets its account's counters rebuilt from this database by any
-- node's sweep. Few rows: only requests settling while Redis does not answer.
CREATE TABLE hot_counter_repairs (
    id         text PRIMARY KEY,
    account_id text        NOT NULL,
    key_id     text        NOT NULL,
    due_at     timestamptz NOT NULL
);
CREATE INDEX hot_counter_repairs_due ON hot_counter_repairs (due_at);
