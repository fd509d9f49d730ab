create or replace temp table old_rows as from export_rows limit 0
