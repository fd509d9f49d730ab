-- the hourly window only (days from $hourly_from)
create or replace temp table export_rows as select * from usage_hourly where day >= $hourly_from
