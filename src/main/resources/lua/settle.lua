-- ARGV: request id, model, tokens, micro-USD, now (ms), month (YYYYMM)
-- Releases the reservation if it is still held, then charges: plans first, the rest to the wallet.
local q, k, resv, zset = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local acct = redis.call('HMGET', q, 'loaded', 'plans')
if not acct[1] then return {'LOAD'} end
local key = redis.call('HMGET', k, 'm', 'spend')
if not key[1] then return {'LOADKEY'} end
release(q, resv, zset, ARGV[1])
local tokens, micro, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local left, draws = tokens, {}
for _, p in ipairs(eligible_plans(q, acct[2], ARGV[2], now)) do
  local take = math.min(p.rem, left)
  if take > 0 then
    redis.call('HINCRBY', q, 'p:' .. p.id .. ':rem', int(0 - take))
    table.insert(draws, p.id)
    table.insert(draws, int(take))
    left = left - take
  end
end
local wallet = wallet_share(micro, tokens, left)
redis.call('HINCRBY', q, 'bal', int(0 - wallet))
redis.call('HSET', k, 'spend', int(month_spend(k, key[1], key[2], ARGV[6]) + micro))
return {'OK', int(wallet), table.concat(draws, ',')}
