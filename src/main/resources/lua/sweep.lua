-- ARGV: cutoff (ms). Releases reservations held since before the cutoff: their requests crashed.
return release_stale(KEYS[1], KEYS[3], KEYS[4], ARGV[1])
