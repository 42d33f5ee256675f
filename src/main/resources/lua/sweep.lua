-- ARGV: cutoff (ms); the marks' cutoff (ms). Releases reservations held since before the cutoff:
-- their requests crashed, or Redis did not answer their settlements. Forgets the marks (KEYS[5]:
-- credits', broken shares', late charges', released reservations', credits and plans kept for a
-- load) made before the marks' cutoff (a day: a live share is renewed every few hundred
-- milliseconds, and a broken one's late charges, which need its mark, may run long after).
local marks = redis.call('HGETALL', KEYS[5])
for i = 1, #marks, 2 do
  local at = tonumber(string.match(marks[i + 1], '|(%d+)$'))
  if at and at < tonumber(ARGV[2]) then redis.call('HDEL', KEYS[5], marks[i]) end
end
return release_stale(KEYS[1], KEYS[3], KEYS[4], KEYS[5], ARGV[1])
