-- ARGV: cutoff (ms); the credits' cutoff (ms). Releases reservations held since before the cutoff:
-- their requests crashed. Forgets the marks (KEYS[5]) of shares renewed last before it (a live share
-- is renewed every few hundred milliseconds) and of credits made before the credits' cutoff.
local marks = redis.call('HGETALL', KEYS[5])
for i = 1, #marks, 2 do
  local at = tonumber(string.match(marks[i + 1], '|(%d+)$'))
  local cutoff = string.sub(marks[i], 1, 2) == 'c:' and ARGV[2] or ARGV[1]
  if at and at < tonumber(cutoff) then redis.call('HDEL', KEYS[5], marks[i]) end
end
return release_stale(KEYS[1], KEYS[3], KEYS[4], ARGV[1])
