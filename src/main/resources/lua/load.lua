-- Fills the account's counters from PostgreSQL unless another node already did.
-- ARGV: balance, then per plan: id, remaining, from (ms), until (ms), models
local q = KEYS[1]
if redis.call('HEXISTS', q, 'loaded') == 1 then return 0 end
redis.call('DEL', q)
redis.call('HSET', q, 'bal', ARGV[1], 'res', 0)
local ids = {}
for i = 2, #ARGV, 5 do
  local id = ARGV[i]
  table.insert(ids, id)
  redis.call('HSET', q, 'p:' .. id .. ':rem', ARGV[i + 1], 'p:' .. id .. ':res', 0, 'p:' .. id .. ':from', ARGV[i + 2],
    'p:' .. id .. ':until', ARGV[i + 3], 'p:' .. id .. ':models', ARGV[i + 4])
end
local now = redis.call('TIME')
redis.call('HSET', q, 'plans', table.concat(ids, ','), 'loaded', 1,
  'loaded_at', now[1] * 1000 + math.floor(now[2] / 1000))
return 1
