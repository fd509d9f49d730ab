create or replace table usage_hourly as select * from usage_hourly order by account_id, day, hour
