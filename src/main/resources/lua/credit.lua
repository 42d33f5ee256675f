-- ARGV: micro-USD (may be negative). Counters not loaded yet will read it from PostgreSQL.
if redis.call('HEXISTS', KEYS[1], 'loaded') == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'bal', ARGV[1])
return 1
