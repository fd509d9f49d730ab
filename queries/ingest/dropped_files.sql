create or replace temp table dropped_files as select unnest($file_ids::integer[]) as file_id
