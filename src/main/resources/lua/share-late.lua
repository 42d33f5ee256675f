-- A share's renewal that failed or went unanswered (share.lua): the node charged the wallet in
-- PostgreSQL with what it carried, and with what the requests settled after it was sent cost. They
-- are charged here too, once, and the share's hold released.
-- ARGV: share id; the renewal's number; what it carried (micro-USD); what the requests settled after
-- it cost (micro-USD); month (YYYYMM); now (ms); 1 to give the share's hold back (its last requests
-- are settled), else 0; this charge's own id. A node sends these one after the other, the failed
-- renewal's first; the ones after it carry 0 and find the mark it set. Each runs once, whoever
-- sends it (its node, or another node's sweep from PostgreSQL): its id leaves a mark too.
-- The share's mark says whether the renewal ran after all: then only what came after it is charged.
-- Without a mark no renewal of the share is known here: its first never ran (nothing was charged
-- against it), or the counters were rebuilt since, and the rebuild counted these charges, pending in
-- PostgreSQL. Either way the mark is set, so that the renewal, should it still arrive, does nothing.
local q, k, resv, zset, marks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
if redis.call('HEXISTS', q, 'loaded') == 0 then return 0 end
if redis.call('HSETNX', marks, 'l:' .. ARGV[8], '0|' .. ARGV[6]) == 0 then return 0 end
local mark = redis.call('HGET', marks, ARGV[1])
local ran = mark and tonumber(string.match(mark, '^(%d+)')) >= tonumber(ARGV[2])
if not ran then
  redis.call('HSET', marks, ARGV[1], ARGV[2] .. '|' .. ARGV[6])
end
if not mark then return 0 end
if ARGV[7] == '1' then release(q, resv, zset, ARGV[1]) end
local micro = tonumber(ARGV[4]) + (ran and 0 or tonumber(ARGV[3]))
if micro == 0 then return 1 end
redis.call('HINCRBY', q, 'bal', int(0 - micro))
local key = redis.call('HMGET', k, 'm', 'spend')
if key[1] then charge_month(k, key[1], key[2], ARGV[5], micro) end
return 1
