-- ARGV: cutoff (ms). Releases reservations held since before the cutoff: their requests crashed.
local q, resv, zset = KEYS[1], KEYS[3], KEYS[4]
local expired = redis.call('ZRANGEBYSCORE', zset, '-inf', ARGV[1])
for _, id in ipairs(expired) do
  if not release(q, resv, zset, id) then redis.call('ZREM', zset, id) end
end
return #expired
