-- A node's share of an account's money, held for one of its keys: a reservation like a request's
-- (a record in KEYS[3], counted in the wallet's and the key's `res`), so that every other node
-- counts it as money in flight, while the node reserves its own requests against it in its process.
-- Each renewal charges what those requests cost since the last one (to the wallet: shares are held
-- for accounts without plans only) and sizes the share again.
-- ARGV: share id; micro-USD to charge now; micro-USD the node's requests in flight still hold (the
-- least the share keeps); the fraction of what is left that the share may grow to (0: only what is
-- still held); the key's monthly cap (-1 = none); month (YYYYMM); the score of its entry in KEYS[4]
-- (ms: the sweep, or a refused reservation, releases it once it is below their cutoff); the
-- renewal's number (1, 2, … for the share); now (ms); 1 when the node gives the share back with this
-- renewal, else 0 (its mark goes too: no late charge can follow a renewal that was answered).
-- KEYS[5]: the shares' marks (hash share id -> "number|ms" of its last renewal taken here), so that
-- a renewal the node gave up on is charged once (share-late.lua): one that arrives after its late
-- charge ran does nothing, and answers GONE.
local q, k, resv, zset, marks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local acct = redis.call('HMGET', q, 'loaded', 'bal', 'res', 'plans')
if not acct[1] then return {'LOAD'} end
local key = redis.call('HMGET', k, 'm', 'spend', 'res')
if not key[1] then return {'LOADKEY'} end
local mark = redis.call('HGET', marks, ARGV[1])
if mark and tonumber(string.match(mark, '^(%d+)')) >= tonumber(ARGV[8]) then return {'GONE'} end
redis.call('HSET', marks, ARGV[1], ARGV[8] .. '|' .. ARGV[9])
local charge, required, fraction, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local old = held(resv, ARGV[1]) or {micro = 0, wallet = 0}
local bal, res = n(acct[2]) - charge, n(acct[3]) - old.wallet
local spend, month = month_spend(k, key[1], key[2], ARGV[6])
spend = spend + charge
local kres = n(key[3]) - old.micro
local room = bal - res
if cap >= 0 then room = math.min(room, cap - spend - kres) end
local size = required
if fraction > 0 and (acct[4] or '') == '' then
  size = math.max(required, math.floor(room * fraction))
end
redis.call('HSET', q, 'bal', int(bal), 'res', int(res + size))
redis.call('HSET', k, 'm', month, 'spend', int(spend), 'res', int(kres + size))
if size > 0 then
  redis.call('HSET', resv, ARGV[1], k .. '|' .. int(size) .. '|' .. int(size) .. '|')
  redis.call('ZADD', zset, ARGV[7], ARGV[1])
else
  redis.call('HDEL', resv, ARGV[1])
  redis.call('ZREM', zset, ARGV[1])
end
if ARGV[10] == '1' then redis.call('HDEL', marks, ARGV[1]) end
return {'OK', int(size)}
