-- The ledger's used/total rule (SPEC §4): used is minus the sum of the CONSUME entries, total the sum of every
-- other entry; remaining = total - used. The one definition: the ingest's and the Spark rollup's ledger_sums
-- (the exported ledger) and queries/analysis_ledger.sql (the app's own entries) include it by this file's name
-- in a `select ... from <entries> group by ...`; it is plain SQL that DuckDB and Spark both read.
coalesce(-sum(case when type = 'CONSUME' then amount end), 0) as used,
coalesce(sum(case when type <> 'CONSUME' then amount end), 0) as total
