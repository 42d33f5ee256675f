-- ARGV: micro-USD (may be negative), the credit's id, a time (µs, PostgreSQL's clock) before it was
-- committed.
-- Counters not loaded yet, or loaded from PostgreSQL since that time, read it from PostgreSQL; the
-- id makes a credit told twice (by several nodes, or again after a timeout) count once: its mark
-- (in KEYS[5], "c:<id>" -> "0|<ms>") stays a day, long past the last retry, then the sweep forgets it.
local q = KEYS[1]
if redis.call('HEXISTS', q, 'loaded') == 0 then
  -- A load may be on its way, having read PostgreSQL before the credit: it adds what is kept here
  -- for it when its read came first (load.lua). Until 2026-12-08 such a credit was lost until the
  -- counters were next rebuilt (a review).
  redis.call('HSET', KEYS[5], 'cp:' .. ARGV[2], ARGV[1] .. '|' .. ARGV[3] .. '|' .. math.floor(tonumber(ARGV[3]) / 1000))
  return 0
end
if tonumber(redis.call('HGET', q, 'loaded_at_us') or '0') >= tonumber(ARGV[3]) then return 0 end
-- (Where nodes before 2026-12-07 kept it, in the account's hash, it counts too: a cluster upgraded
-- one node at a time has both.)
if redis.call('HEXISTS', q, 'c:' .. ARGV[2]) == 1 then return 0 end
if redis.call('HSETNX', KEYS[5], 'c:' .. ARGV[2], '0|' .. math.floor(tonumber(ARGV[3]) / 1000)) == 0 then return 0 end
redis.call('HINCRBY', q, 'bal', ARGV[1])
return 1
