-- ARGV: request id, micro-USD, month (YYYYMM), then what the reservation holds as reserve.lua answered
-- it: micro-USD, wallet micro-USD, plan draws (id,tokens,...); then when the charge was made (ms).
-- A settlement the counters did not take in time, charged to the wallet in PostgreSQL: charged to the
-- wallet here too, once, by its node or by any node's sweep (CounterRepairs), and its reservation
-- released if that is still held. Its settle.lua may yet run (sent before this, on its node's
-- connection): if it ran first, the reservation is gone and nothing is charged here; if it runs
-- after, it finds this charge's mark ("l:<id>") and charges nothing. A reservation the sweep released
-- as stale left a mark ("x:<id>"): the charge is made all the same.
local q, k, resv, zset, marks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
if redis.call('HEXISTS', q, 'loaded') == 0 then return 0 end
local key = redis.call('HMGET', k, 'm', 'spend', 'res')
if redis.call('HDEL', resv, ARGV[1]) == 1 then
  redis.call('ZREM', zset, ARGV[1])
  for id, take in pairs(parse_draws(ARGV[6])) do
    redis.call('HINCRBY', q, 'p:' .. id .. ':res', int(0 - take))
  end
  redis.call('HINCRBY', q, 'res', int(0 - tonumber(ARGV[5])))
  if key[1] then redis.call('HSET', k, 'res', int(n(key[3]) - tonumber(ARGV[4]))) end
elseif redis.call('HDEL', marks, 'x:' .. ARGV[1]) == 0 then
  return 0
end
local micro = tonumber(ARGV[2])
redis.call('HINCRBY', q, 'bal', int(0 - micro))
if key[1] then charge_month(k, key[1], key[2], ARGV[3], micro) end
redis.call('HSET', marks, 'l:' .. ARGV[1], '0|' .. ARGV[7])
return 1
