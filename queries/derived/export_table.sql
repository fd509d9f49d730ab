-- a table the format holds as the cache does ({table}: a name of engine/derived.py's TABLES)
create or replace temp table export_rows as select * from {table}
