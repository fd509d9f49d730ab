create or replace temp table batch_files as
select unnest($paths::varchar[]) as _ingest_file, unnest($file_ids::integer[]) as file_id
