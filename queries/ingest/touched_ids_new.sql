insert into touched_ids
select distinct id_hash, id_hash2 from raw_events where file_id >= $first_new_file
