-- ARGV: request id, model, tokens, micro-USD, monthly cap (-1 = none), now (ms), month (YYYYMM), and
-- the id of a reservation of the same request that this one replaces, or '' (its fallback to
-- another model): what that one holds counts as available, and it is released if this one is made.
-- ARGV[9]: the cutoff (ms) before which a reservation is stale (its node died before settling it):
-- the oldest one is looked at, and if stale, all stale ones are released before anything is counted.
local q, k, resv, zset = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HEXISTS', q, 'loaded') == 0 then return {'LOAD'} end
if redis.call('HEXISTS', k, 'm') == 0 then return {'LOADKEY'} end
local tokens, micro, cap, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local oldest = redis.call('ZRANGE', zset, 0, 0, 'WITHSCORES')
if oldest[2] and tonumber(oldest[2]) < tonumber(ARGV[9]) then release_stale(q, resv, zset, ARGV[9]) end
local old = (ARGV[8] ~= '' and held(resv, ARGV[8])) or {micro = 0, wallet = 0, draws = {}}
roll_month(k, ARGV[7])
local spend, kres = num(k, 'spend'), num(k, 'res') - old.micro
if cap >= 0 and spend + kres + micro > cap then
  return {'CAP', int(spend), int(kres)}
end
local left, draws = tokens, {}
for _, p in ipairs(eligible_plans(q, ARGV[2], now)) do
  local free = num(q, 'p:' .. p.id .. ':rem') - num(q, 'p:' .. p.id .. ':res') + (old.draws[p.id] or 0)
  local take = math.min(free, left)
  if take > 0 then
    table.insert(draws, p.id)
    table.insert(draws, int(take))
    left = left - take
  end
end
local wallet = wallet_share(micro, tokens, left)
local available = num(q, 'bal') - num(q, 'res') + old.wallet
if wallet > 0 and available < wallet then
  return {'QUOTA', int(available), int(wallet)}
end
if ARGV[8] ~= '' then release(q, resv, zset, ARGV[8]) end
for i = 1, #draws, 2 do
  redis.call('HINCRBY', q, 'p:' .. draws[i] .. ':res', draws[i + 1])
end
redis.call('HINCRBY', q, 'res', int(wallet))
redis.call('HINCRBY', k, 'res', int(micro))
redis.call('HSET', resv, ARGV[1], k .. '|' .. int(micro) .. '|' .. int(wallet) .. '|' .. table.concat(draws, ','))
redis.call('ZADD', zset, now, ARGV[1])
return {'OK', int(wallet), table.concat(draws, ',')}
