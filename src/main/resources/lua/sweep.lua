-- ARGV: cutoff (ms); the credits' cutoff (ms); the shares' cutoff (ms). Releases reservations held
-- since before the cutoff: their requests crashed. Forgets the marks (KEYS[5]) of shares renewed last
-- before the shares' cutoff (a live share is renewed every few hundred milliseconds; a broken one's
-- late charges are tried for about 35 minutes, and need its mark) and of credits, late charges and
-- released reservations marked before the credits' cutoff (a day).
local marks = redis.call('HGETALL', KEYS[5])
for i = 1, #marks, 2 do
  local at = tonumber(string.match(marks[i + 1], '|(%d+)$'))
  local kind = string.sub(marks[i], 1, 2)
  local cutoff = (kind == 'c:' or kind == 'l:' or kind == 'x:') and ARGV[2] or ARGV[3]
  if at and at < tonumber(cutoff) then redis.call('HDEL', KEYS[5], marks[i]) end
end
return release_stale(KEYS[1], KEYS[3], KEYS[4], KEYS[5], ARGV[1])
