-- ARGV: request id, model, tokens, micro-USD, now (ms), month (YYYYMM)
-- Releases the reservation if it is still held, then charges: plans first, the rest to the wallet.
local q, k, resv, zset = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HEXISTS', q, 'loaded') == 0 then return {'LOAD'} end
if redis.call('HEXISTS', k, 'm') == 0 then return {'LOADKEY'} end
release(q, resv, zset, ARGV[1])
local tokens, micro, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local left, draws = tokens, {}
for _, p in ipairs(eligible_plans(q, ARGV[2], now)) do
  local take = math.min(num(q, 'p:' .. p.id .. ':rem'), left)
  if take > 0 then
    redis.call('HINCRBY', q, 'p:' .. p.id .. ':rem', int(0 - take))
    table.insert(draws, p.id)
    table.insert(draws, int(take))
    left = left - take
  end
end
local wallet = wallet_share(micro, tokens, left)
redis.call('HINCRBY', q, 'bal', int(0 - wallet))
roll_month(k, ARGV[6])
redis.call('HINCRBY', k, 'spend', int(micro))
return {'OK', int(wallet), table.concat(draws, ',')}
