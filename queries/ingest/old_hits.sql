create or replace temp table old_hits as
select r.file_id, r.row_no from raw_events r semi join touched_ids t using (id_hash, id_hash2)
where r.file_id < $first_new_file
