create or replace temp view rollup_source as
select r.* from raw_events r anti join event_losers l using (file_id, row_no)
