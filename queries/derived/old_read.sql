insert into old_rows by name select * from read_parquet($glob, hive_partitioning = $partitioned)
