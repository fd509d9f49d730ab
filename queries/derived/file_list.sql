-- the export files (path, size, mtime) a derived folder was made from
select path, size, mtime_ns from read_parquet($glob, hive_partitioning = false)
