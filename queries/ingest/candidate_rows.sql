create or replace temp table candidates_rows as
select * from raw_events where file_id >= $first_new_file
union all
select r.* from raw_events r semi join old_hits h using (file_id, row_no)
where r.file_id between $first_hit_file and $last_hit_file
