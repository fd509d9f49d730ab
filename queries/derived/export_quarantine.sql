create or replace temp table export_rows as
select f.kind, f.path, q.reason, q.rows from quarantine as q inner join files as f using (file_id)
