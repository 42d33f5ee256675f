-- Forgets an account's counters, as a Redis that lost them would: its hash, its reservations and
-- their timeline, its shares' marks (KEYS[1..4]) and its keys' month counters (the rest), so that
-- the next request rebuilds them from PostgreSQL (CounterRepairs). Reservations in flight are
-- charged by their settlements all the same, against the rebuilt counters.
return redis.call('DEL', unpack(KEYS))
