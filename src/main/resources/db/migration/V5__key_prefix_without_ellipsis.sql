-- Key prefixes used to be listed as the first ten characters and an ellipsis; they are now a true
-- prefix of the key, so that a listed key can be matched against one held. Bring old rows in line.
UPDATE api_keys SET prefix = rtrim(prefix, '…') WHERE prefix LIKE '%…';
