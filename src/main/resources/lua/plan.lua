-- ARGV: id, tokens, from (ms), until (ms), models, now (ms). Counters not loaded yet read it from
-- PostgreSQL, or from what is kept here for a load already on its way.
local q = KEYS[1]
if redis.call('HEXISTS', q, 'loaded') == 0 then
  -- A load may be on its way, having read PostgreSQL before the plan: it adds the plan kept here for
  -- it unless its read had it (load.lua). Until 2026-12-08 such a plan was missed until the counters
  -- were next rebuilt.
  redis.call('HSET', KEYS[5], 'pp:' .. ARGV[1], cjson.encode({ARGV[2], ARGV[3], ARGV[4], ARGV[5]}) .. '|' .. ARGV[6])
  return 0
end
local id = ARGV[1]
-- Told twice (by several nodes, or again after a timeout), or loaded from PostgreSQL with it: once.
if redis.call('HEXISTS', q, 'p:' .. id .. ':rem') == 1 then return 0 end
redis.call('HSET', q, 'p:' .. id .. ':rem', ARGV[2], 'p:' .. id .. ':res', 0, 'p:' .. id .. ':from', ARGV[3],
  'p:' .. id .. ':until', ARGV[4], 'p:' .. id .. ':models', ARGV[5])
local ids = redis.call('HGET', q, 'plans') or ''
if ids == '' then ids = id else ids = ids .. ',' .. id end
redis.call('HSET', q, 'plans', ids)
return 1
