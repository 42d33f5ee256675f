-- ARGV: request id, micro-USD, month (YYYYMM), then what the reservation holds as reserve.lua answered
-- it: micro-USD, wallet micro-USD, plan draws (id,tokens,...).
-- A settlement the counters did not take in time, charged to the wallet in PostgreSQL: charged to the
-- wallet here too, and its reservation released, if that is still held. Else its settle.lua ran after
-- all (sent before this, on the same connection), or the sweep released the reservation: nothing more.
local q, k, resv, zset = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HEXISTS', q, 'loaded') == 0 then return 0 end
if redis.call('HDEL', resv, ARGV[1]) == 0 then return 0 end
redis.call('ZREM', zset, ARGV[1])
for id, take in pairs(parse_draws(ARGV[6])) do
  redis.call('HINCRBY', q, 'p:' .. id .. ':res', int(0 - take))
end
local micro = tonumber(ARGV[2])
redis.call('HINCRBY', q, 'res', int(0 - tonumber(ARGV[5])))
redis.call('HINCRBY', q, 'bal', int(0 - micro))
local key = redis.call('HMGET', k, 'm', 'spend', 'res')
if key[1] then
  local spend = key[1] == ARGV[3] and n(key[2]) or 0
  redis.call('HSET', k, 'm', ARGV[3], 'spend', int(spend + micro), 'res', int(n(key[3]) - tonumber(ARGV[4])))
end
return 1
