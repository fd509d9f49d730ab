-- a table read as the folder holds it ({table}: a name of engine/derived.py's TABLES), in the order an account's
-- figures read it ({order}: by its sort columns, or nothing), so they read few row groups as in a cache an ingest made
insert into {table} by name
select * from read_parquet($glob, hive_partitioning = $partitioned) {order}
