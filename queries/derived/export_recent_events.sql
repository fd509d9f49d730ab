-- the hourly window's events; the instant bound (a day before the window) lets the scan skip older row groups
create or replace temp table export_rows as
select account_id, occurred_at, user_id, service, model, tokens, day from recent_events
where occurred_at >= $hourly_from_at and day >= $hourly_from
