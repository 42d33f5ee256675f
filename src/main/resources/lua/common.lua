-- Shared by the quota scripts. KEYS[1]: the account's counters (hash), with fields
--   bal, res                 wallet balance and money reserved, micro-USD
--   plans                    comma-separated plan ids
--   p:<id>:rem, p:<id>:res   plan tokens remaining and reserved
--   p:<id>:from, p:<id>:until, p:<id>:models   validity (ms) and models (comma-separated, empty = all)
--   loaded                   set once the hash was filled from PostgreSQL
-- KEYS[2]: the key's counters (hash): m (month YYYYMM), spend, res (micro-USD).
-- KEYS[3]: reservations in flight (hash request id -> "keyhash|micro|wallet|plan,tokens,plan,tokens")
-- KEYS[4]: reservations by time (sorted set), for the sweep.
-- All keys share the account's hash tag, so a script touches one slot.

-- Integers as Redis wants them: Lua numbers are doubles, and tostring(-0) is "-0".
local function int(x)
  return string.format('%d', x)
end

local function num(key, field)
  return tonumber(redis.call('HGET', key, field) or '0') or 0
end

local function eligible_plans(q, model, now)
  local ids = redis.call('HGET', q, 'plans') or ''
  local out = {}
  for id in string.gmatch(ids, '[^,]+') do
    local from = num(q, 'p:' .. id .. ':from')
    local untl = num(q, 'p:' .. id .. ':until')
    local models = redis.call('HGET', q, 'p:' .. id .. ':models') or ''
    if now >= from and now < untl and (models == '' or string.find(',' .. models .. ',', ',' .. model .. ',', 1, true)) then
      table.insert(out, {id = id, untl = untl})
    end
  end
  table.sort(out, function(a, b)
    if a.untl == b.untl then return a.id < b.id end
    return a.untl < b.untl
  end)
  return out
end

local function roll_month(k, month)
  if redis.call('HGET', k, 'm') ~= month then
    redis.call('HSET', k, 'm', month, 'spend', 0)
  end
end

local function wallet_share(micro, tokens, left)
  if tokens <= 0 then return micro end
  return math.floor(micro * left / tokens + 0.5)
end

-- A reservation in flight, parsed: {keyhash, micro, wallet, draws = {plan id -> tokens}}, or nil.
local function held(resv, request_id)
  local rec = request_id and redis.call('HGET', resv, request_id)
  if not rec then return nil end
  local keyhash, micro, wallet, draws = string.match(rec, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
  local out = {keyhash = keyhash, micro = tonumber(micro), wallet = tonumber(wallet), draws = {}}
  local parts = {}
  for v in string.gmatch(draws, '[^,]+') do table.insert(parts, v) end
  for i = 1, #parts, 2 do
    out.draws[parts[i]] = tonumber(parts[i + 1])
  end
  return out
end

local function release(q, resv, zset, request_id)
  local r = held(resv, request_id)
  if not r then return false end
  redis.call('HINCRBY', q, 'res', int(0 - r.wallet))
  redis.call('HINCRBY', r.keyhash, 'res', int(0 - r.micro))
  for id, take in pairs(r.draws) do
    redis.call('HINCRBY', q, 'p:' .. id .. ':res', int(0 - take))
  end
  redis.call('HDEL', resv, request_id)
  redis.call('ZREM', zset, request_id)
  return true
end

-- Releases the reservations held since before the cutoff (ms): their requests' nodes died before
-- settling them. Answers how many.
local function release_stale(q, resv, zset, cutoff)
  local expired = redis.call('ZRANGEBYSCORE', zset, '-inf', cutoff)
  for _, id in ipairs(expired) do
    if not release(q, resv, zset, id) then redis.call('ZREM', zset, id) end
  end
  return #expired
end
