-- A batch of export files of one kind, read where they lie, as the named view (the slot after `view`);
-- the last slot adds a null column of each optional column, by name.
create or replace temp view {view} as
select * from read_parquet(getvariable('ingest_paths'), hive_partitioning = false, file_row_number = true,
    filename = '_ingest_file')
{optional_columns}
