-- ARGV: id, tokens, from (ms), until (ms), models. Counters not loaded yet will read it from PostgreSQL.
local q = KEYS[1]
if redis.call('HEXISTS', q, 'loaded') == 0 then return 0 end
local id = ARGV[1]
-- Told twice (by several nodes, or again after a timeout), or loaded from PostgreSQL with it: once.
if redis.call('HEXISTS', q, 'p:' .. id .. ':rem') == 1 then return 0 end
redis.call('HSET', q, 'p:' .. id .. ':rem', ARGV[2], 'p:' .. id .. ':res', 0, 'p:' .. id .. ':from', ARGV[3],
  'p:' .. id .. ':until', ARGV[4], 'p:' .. id .. ':models', ARGV[5])
local ids = redis.call('HGET', q, 'plans') or ''
if ids == '' then ids = id else ids = ids .. ',' .. id end
redis.call('HSET', q, 'plans', ids)
return 1
