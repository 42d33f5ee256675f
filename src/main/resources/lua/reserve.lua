-- ARGV: request id, model, tokens, micro-USD, monthly cap (-1 = none), now (ms), month (YYYYMM), and
-- the id of a reservation of the same request that this one replaces, or '' (its fallback to
-- another model): what that one holds counts as available, and it is released if this one is made.
-- ARGV[9]: the cutoff (ms) before which a reservation is stale (its node died before settling it).
-- Stale reservations are looked for only when the request would be refused: if the oldest one is
-- stale, all stale ones are released and the request is counted again. The sweep frees them too.
local q, k, resv, zset = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local tokens, micro, cap, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])

-- Counts the request against the counters as they are: a refusal, or nil and what to take.
local function count()
  local acct = redis.call('HMGET', q, 'loaded', 'bal', 'res', 'plans')
  if not acct[1] then return {'LOAD'} end
  local key = redis.call('HMGET', k, 'm', 'spend', 'res')
  if not key[1] then return {'LOADKEY'} end
  local old = (ARGV[8] ~= '' and held(resv, ARGV[8])) or {micro = 0, wallet = 0, draws = {}}
  local spend, kres = month_spend(k, key[1], key[2], ARGV[7]), n(key[3]) - old.micro
  if cap >= 0 and spend + kres + micro > cap then
    return {'CAP', int(spend), int(kres)}
  end
  local draws, left = draw(eligible_plans(q, acct[4], ARGV[2], now), tokens, function(p)
    return p.rem - p.res + (old.draws[p.id] or 0)
  end)
  local wallet = wallet_share(micro, tokens, left)
  local available = n(acct[2]) - n(acct[3]) + old.wallet
  if wallet > 0 and available < wallet then
    return {'QUOTA', int(available), int(wallet)}
  end
  return nil, wallet, draws, available - wallet, spend + kres + micro, acct[4]
end

local refused, wallet, draws, unreserved, used, plans = count()
if refused and (refused[1] == 'CAP' or refused[1] == 'QUOTA') then
  local oldest = redis.call('ZRANGE', zset, 0, 0, 'WITHSCORES')
  if oldest[2] and tonumber(oldest[2]) < tonumber(ARGV[9]) then
    release_stale(q, resv, zset, KEYS[5], ARGV[9])
    refused, wallet, draws, unreserved, used, plans = count()
  end
end
if refused then return refused end
if ARGV[8] ~= '' then release(q, resv, zset, ARGV[8]) end
for i = 1, #draws, 2 do
  redis.call('HINCRBY', q, 'p:' .. draws[i] .. ':res', draws[i + 1])
end
redis.call('HINCRBY', q, 'res', int(wallet))
redis.call('HINCRBY', k, 'res', int(micro))
redis.call('HSET', resv, ARGV[1], k .. '|' .. int(micro) .. '|' .. int(wallet) .. '|' .. table.concat(draws, ','))
redis.call('ZADD', zset, ARGV[6], ARGV[1])
-- Besides what it holds: the wallet's money left unreserved, the key's month (spent and reserved),
-- and whether the account has plans ('1') or pays from its wallet alone ('0').
return {'OK', int(wallet), table.concat(draws, ','), int(unreserved), int(used),
  (plans or '') == '' and '0' or '1'}
