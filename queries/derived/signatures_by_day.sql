-- a partitioned table's content signature per day: row count and a sum of row hashes (row order does not matter,
-- as in the format); {rows}: export_rows (what the cache holds now) or old_rows (what the folder holds)
select day, count(*), sum(hash(e)::hugeint) from {rows} as e group by day
