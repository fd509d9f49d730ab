create or replace table usage_daily as select * from usage_daily order by account_id, day
