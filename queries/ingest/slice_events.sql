create or replace temp table slice_events as
select r.* from raw_events r
semi join slices s on r.account_id = s.account_id and timezone($tz, r.occurred_at)::date = s.day
anti join event_losers l on r.file_id = l.file_id and r.row_no = l.row_no
where r.occurred_at >= $slices_from and r.occurred_at < $slices_to
