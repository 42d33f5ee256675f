-- Charges the hot counters in Redis owe: a settlement (or a share's renewal) that Redis did not
-- answer in time was charged to the wallet here, and is charged to Redis's later by the node that
-- made it, with the script and arguments kept here. A row is deleted once Redis took the charge.
-- One still here when it is due (its node stopped, crashed or gave up) is run by any node's sweep;
-- the charges of one chain (a share's) in their node's order (seq), none before an earlier one.
-- Few rows: only requests settling while Redis does not answer.
CREATE TABLE hot_counter_repairs (
    id         text PRIMARY KEY,
    chain      text        NOT NULL,
    account_id text        NOT NULL,
    key_id     text        NOT NULL,
    script     text        NOT NULL,
    args       text[]      NOT NULL,
    seq        bigint      NOT NULL,
    due_at     timestamptz NOT NULL
);
CREATE INDEX hot_counter_repairs_due ON hot_counter_repairs (due_at);
CREATE INDEX hot_counter_repairs_chain ON hot_counter_repairs (chain, seq);
