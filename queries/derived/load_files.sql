-- the loader numbers the files itself (another engine's file_id may be anything) and joins by path
insert into files
select row_number() over (order by kind, path)::integer, kind, path, size, mtime_ns, status, error,
    rows_read, accepted, quarantined, latest_at, null
from read_parquet($glob, hive_partitioning = false)
