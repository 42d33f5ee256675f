-- ARGV: cutoff (ms). Releases reservations held since before the cutoff: their requests crashed.
-- Forgets the marks of shares renewed last before it (KEYS[5]; a live share is renewed every few
-- hundred milliseconds).
local marks = redis.call('HGETALL', KEYS[5])
for i = 1, #marks, 2 do
  local at = tonumber(string.match(marks[i + 1], '|(%d+)$'))
  if at and at < tonumber(ARGV[1]) then redis.call('HDEL', KEYS[5], marks[i]) end
end
return release_stale(KEYS[1], KEYS[3], KEYS[4], ARGV[1])
