-- account_months and account_month_keys for the accounts an incremental ingest touched (`slices`): their rows go, then come again whole
delete from account_months where account_id in (select account_id from slices);
delete from account_month_keys where account_id in (select account_id from slices);
create or replace temp view months_source as
select * from usage_daily where account_id in (select account_id from slices)
