-- Shared by the quota scripts. KEYS[1]: the account's counters (hash), with fields
--   bal, res                 wallet balance and money reserved, micro-USD
--   plans                    comma-separated plan ids
--   p:<id>:rem, p:<id>:res   plan tokens remaining and reserved
--   p:<id>:from, p:<id>:until, p:<id>:models   validity (ms) and models (comma-separated, empty = all)
--   loaded                   set once the hash was filled from PostgreSQL
-- KEYS[2]: the key's counters (hash): m (month YYYYMM), spend, res (micro-USD).
-- KEYS[3]: reservations in flight (hash request id -> "keyhash|micro|wallet|plan,tokens,plan,tokens")
-- KEYS[4]: reservations by time (sorted set), for the sweep and for a reservation about to be
--   refused.
-- KEYS[5]: the marks of the nodes' shares (hash share id -> "renewal number|ms"), see share.lua, and
-- of credits ("c:"), late charges ("l:") and released reservations ("x:"), each "…|ms".
-- All keys share the account's hash tag, so a script touches one slot. Each script reads what it
-- needs of a hash in one HMGET: a call from Lua costs Redis about as much as the command itself.

-- Integers as Redis wants them: Lua numbers are doubles, and tostring(-0) is "-0".
local function int(x)
  return string.format('%d', x)
end

-- A field as HMGET answers it (false when absent) as a number.
local function n(v)
  return tonumber(v or '0') or 0
end

-- The plans (ids, comma-separated) that may pay for the model now, earliest expiry first (then by
-- id), each with its counters: {id, untl, rem, res}, all read in one HMGET. Those in `held` (plan id ->
-- tokens, a settling reservation's draws) pay whatever the time: they may have expired while it ran.
local function eligible_plans(q, ids, model, now, held)
  local list, fields = {}, {}
  for id in string.gmatch(ids or '', '[^,]+') do
    local p = 'p:' .. id .. ':'
    table.insert(list, id)
    table.insert(fields, p .. 'from')
    table.insert(fields, p .. 'until')
    table.insert(fields, p .. 'models')
    table.insert(fields, p .. 'rem')
    table.insert(fields, p .. 'res')
  end
  if #list == 0 then return {} end
  local v = redis.call('HMGET', q, unpack(fields))
  local out = {}
  for i, id in ipairs(list) do
    local b = (i - 1) * 5
    local from, untl, models = n(v[b + 1]), n(v[b + 2]), v[b + 3] or ''
    local covers = models == '' or string.find(',' .. models .. ',', ',' .. model .. ',', 1, true)
    if covers and (now >= from and now < untl or held and held[id]) then
      table.insert(out, {id = id, untl = untl, rem = n(v[b + 4]), res = n(v[b + 5])})
    end
  end
  table.sort(out, function(a, b)
    if a.untl == b.untl then return a.id < b.id end
    return a.untl < b.untl
  end)
  return out
end

-- Takes up to `tokens` from the plans in order, free(p) at most from each: the draws
-- {id, tokens, id, tokens, ...} and the tokens left for the wallet.
local function draw(plans, tokens, free)
  local left, draws = tokens, {}
  for _, p in ipairs(plans) do
    local take = math.min(free(p), left)
    if take > 0 then
      table.insert(draws, p.id)
      table.insert(draws, int(take))
      left = left - take
    end
  end
  return draws, left
end

-- The key's month-to-date spend, started again at 0 when its month (m, as read) is not this one.
-- The key's spend in the month, and the month it counts: a new month starts at 0; a key that has
-- moved on to a later month (a command delayed over midnight, another node's clock ahead) keeps it,
-- and its spend counts (a month is never taken back: its spend would be lost to the cap).
local function month_spend(k, m, spend, month)
  if m and m > month then
    return n(spend), m
  end
  if m ~= month then
    redis.call('HSET', k, 'm', month, 'spend', 0)
    return 0, month
  end
  return n(spend), month
end

local function wallet_share(micro, tokens, left)
  if tokens <= 0 then return micro end
  return math.floor(micro * left / tokens + 0.5)
end

-- Plan draws as the scripts write them ("id,tokens,id,tokens"), as {plan id -> tokens}.
local function parse_draws(encoded)
  local parts, out = {}, {}
  for v in string.gmatch(encoded, '[^,]+') do table.insert(parts, v) end
  for i = 1, #parts, 2 do
    out[parts[i]] = tonumber(parts[i + 1])
  end
  return out
end

-- A reservation in flight, parsed: {keyhash, micro, wallet, draws = {plan id -> tokens}}, or nil.
local function held(resv, request_id)
  local rec = request_id and redis.call('HGET', resv, request_id)
  if not rec then return nil end
  local keyhash, micro, wallet, draws = string.match(rec, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
  return {keyhash = keyhash, micro = tonumber(micro), wallet = tonumber(wallet), draws = parse_draws(draws)}
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
-- settling them, or Redis did not answer their settlements. A request's release leaves a mark in
-- the marks hash ("x:<id>" -> "0|<cutoff>"), so that its late charge, should one come (kept in
-- PostgreSQL, run by any node), still charges it, once (late-charge.lua, settle.lua). Answers how many.
local function release_stale(q, resv, zset, marks, cutoff)
  local expired = redis.call('ZRANGEBYSCORE', zset, '-inf', cutoff)
  for _, id in ipairs(expired) do
    if release(q, resv, zset, id) then
      if string.sub(id, 1, 6) ~= 'share:' then redis.call('HSET', marks, 'x:' .. id, '0|' .. cutoff) end
    else
      redis.call('ZREM', zset, id)
    end
  end
  return #expired
end

-- A charge to the key's month made for the given month: added when the key counts that month (or
-- an earlier one, which the month replaces), left out when the key has moved on to a later month
-- (a late charge run after midnight must not take the new month back to the old).
local function charge_month(k, m, spend, month, micro)
  if m and m > month then return end
  local current = m == month and n(spend) or 0
  redis.call('HSET', k, 'm', month, 'spend', int(current + micro))
end
