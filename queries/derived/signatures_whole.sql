-- an unpartitioned table's content signature: row count and a sum of row hashes; {rows} as in signatures_by_day
select null::date as day, count(*), sum(hash(e)::hugeint) from {rows} as e
