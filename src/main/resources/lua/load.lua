-- Fills the account's counters from PostgreSQL unless another node already did.
-- ARGV: balance, PostgreSQL's clock (µs) when it was read, then per plan: id, remaining, from (ms),
-- until (ms), models
local q = KEYS[1]
if redis.call('HEXISTS', q, 'loaded') == 1 then return 0 end
redis.call('DEL', q)
-- Credits and plans told while no counters were loaded (credit.lua, plan.lua): a credit written after
-- this load's read (PostgreSQL's clock) is added; a plan the read did not have is added.
local credited, granted = 0, {}
local marks = redis.call('HGETALL', KEYS[5])
for i = 1, #marks, 2 do
  local kind = string.sub(marks[i], 1, 3)
  if kind == 'cp:' then
    local micro, after = string.match(marks[i + 1], '^(-?%d+)|(%d+)|')
    if tonumber(after) >= tonumber(ARGV[2]) then credited = credited + tonumber(micro) end
  elseif kind == 'pp:' then
    granted[string.sub(marks[i], 4)] = cjson.decode(string.match(marks[i + 1], '^(.*)|%d+$'))
  end
end
-- Shares' marks belong to the counters they were made in (share-late.lua).
redis.call('DEL', KEYS[5])
redis.call('HSET', q, 'bal', int(tonumber(ARGV[1]) + credited), 'res', 0)
local ids = {}
for i = 3, #ARGV, 5 do
  local id = ARGV[i]
  table.insert(ids, id)
  granted[id] = nil
  redis.call('HSET', q, 'p:' .. id .. ':rem', ARGV[i + 1], 'p:' .. id .. ':res', 0, 'p:' .. id .. ':from', ARGV[i + 2],
    'p:' .. id .. ':until', ARGV[i + 3], 'p:' .. id .. ':models', ARGV[i + 4])
end
for id, p in pairs(granted) do
  table.insert(ids, id)
  redis.call('HSET', q, 'p:' .. id .. ':rem', p[1], 'p:' .. id .. ':res', 0, 'p:' .. id .. ':from', p[2],
    'p:' .. id .. ':until', p[3], 'p:' .. id .. ':models', p[4])
end
redis.call('HSET', q, 'plans', table.concat(ids, ','), 'loaded', 1, 'loaded_at_us', ARGV[2])
return 1
