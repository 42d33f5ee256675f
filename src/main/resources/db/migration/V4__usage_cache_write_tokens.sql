-- Prompt tokens written to the provider's cache (Anthropic's cache_creation_input_tokens): part of
-- prompt_tokens, apart from cached_tokens (cache reads), and charged at the model's cache_write
-- price, so a record shows every count its cost was computed from. A constant default makes this
-- a catalog-only change on PostgreSQL 11+, with no rewrite of existing records.
ALTER TABLE usage_records ADD COLUMN cache_write_tokens integer NOT NULL DEFAULT 0;
