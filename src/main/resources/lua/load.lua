-- Fills the account's counters from PostgreSQL unless another node already did.
-- ARGV: balance, PostgreSQL's clock (µs) when it was read, then per plan: id, remaining, from (ms),
-- until (ms), models
local q = KEYS[1]
if redis.call('HEXISTS', q, 'loaded') == 1 then return 0 end
redis.call('DEL', q)
-- Shares' marks belong to the counters they were made in (share-late.lua).
redis.call('DEL', KEYS[5])
redis.call('HSET', q, 'bal', ARGV[1], 'res', 0)
local ids = {}
for i = 3, #ARGV, 5 do
  local id = ARGV[i]
  table.insert(ids, id)
  redis.call('HSET', q, 'p:' .. id .. ':rem', ARGV[i + 1], 'p:' .. id .. ':res', 0, 'p:' .. id .. ':from', ARGV[i + 2],
    'p:' .. id .. ':until', ARGV[i + 3], 'p:' .. id .. ':models', ARGV[i + 4])
end
redis.call('HSET', q, 'plans', table.concat(ids, ','), 'loaded', 1, 'loaded_at_us', ARGV[2])
return 1
