-- ARGV: month (YYYYMM), month-to-date spend. Only if absent.
if redis.call('HEXISTS', KEYS[2], 'm') == 1 then return 0 end
redis.call('HSET', KEYS[2], 'm', ARGV[1], 'spend', ARGV[2], 'res', 0)
return 1
