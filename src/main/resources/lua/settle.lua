-- ARGV: request id, model, tokens, micro-USD, now (ms), month (YYYYMM), then what the reservation holds
-- as reserve.lua answered it: micro-USD, wallet micro-USD, plan draws (id,tokens,...).
-- Releases the reservation if it is still held (not swept, not replaced; not charged already by its
-- late charge, see late-charge.lua), then charges: plans first,
-- the rest to the wallet. The node passes what the reservation holds, so the record is only deleted,
-- not read, and the wallet's and the key's counters are each read once and written once.
local q, k, resv, zset, marks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local acct = redis.call('HMGET', q, 'loaded', 'plans', 'bal', 'res')
if not acct[1] then return {'LOAD'} end
local key = redis.call('HMGET', k, 'm', 'spend', 'res')
if not key[1] then return {'LOADKEY'} end
local tokens, micro, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local res, kres = n(acct[4]), n(key[3])
if redis.call('HDEL', resv, ARGV[1]) == 1 then
  redis.call('ZREM', zset, ARGV[1])
  res, kres = res - tonumber(ARGV[8]), kres - tonumber(ARGV[7])
  for id, take in pairs(parse_draws(ARGV[9])) do
    redis.call('HINCRBY', q, 'p:' .. id .. ':res', int(0 - take))
  end
else
  -- Not held: released as stale (then charged here, and its late charge, if any, finds no mark), or
  -- charged already by its late charge (this settle arrived after it, late on its connection).
  if redis.call('HEXISTS', marks, 'l:' .. ARGV[1]) == 1 then return {'OK', 0, ''} end
  redis.call('HDEL', marks, 'x:' .. ARGV[1])
end
-- What other requests hold of a plan is theirs to draw: free tokens first (this request's own, just
-- released, among them), and only usage past the estimate from the rest.
-- The plans this reservation drew from pay though they expired while the request ran.
local plans, taken, left = eligible_plans(q, acct[2], ARGV[2], now, parse_draws(ARGV[9])), {}, tokens
for pass = 1, 2 do
  for _, p in ipairs(plans) do
    local free = (pass == 1 and math.max(0, p.rem - p.res) or p.rem) - (taken[p.id] or 0)
    local take = math.min(free, left)
    if take > 0 then
      taken[p.id], left = (taken[p.id] or 0) + take, left - take
    end
  end
end
local draws = {}
for _, p in ipairs(plans) do
  if taken[p.id] then
    table.insert(draws, p.id)
    table.insert(draws, int(taken[p.id]))
    redis.call('HINCRBY', q, 'p:' .. p.id .. ':rem', int(0 - taken[p.id]))
  end
end
local wallet = wallet_share(micro, tokens, left)
redis.call('HSET', q, 'bal', int(n(acct[3]) - wallet), 'res', int(res))
if key[1] > ARGV[6] then
  -- Settled for a month the key has left (delayed over midnight): that month's spend is not the new one's.
  redis.call('HSET', k, 'res', int(kres))
else
  local spend = key[1] == ARGV[6] and n(key[2]) or 0
  redis.call('HSET', k, 'm', ARGV[6], 'spend', int(spend + micro), 'res', int(kres))
end
return {'OK', int(wallet), table.concat(draws, ',')}
