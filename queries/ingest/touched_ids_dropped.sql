create or replace temp table touched_ids as
select distinct id_hash, id_hash2 from raw_events semi join dropped_files using (file_id)
