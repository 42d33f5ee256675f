-- Until this version a monthly cap of 0 was stored for "no cap"; from now on 0 lets a key spend
-- nothing and "no cap" is NULL, as it always was for keys created without one.
UPDATE api_keys SET monthly_cap_micro_usd = NULL WHERE monthly_cap_micro_usd = 0;
