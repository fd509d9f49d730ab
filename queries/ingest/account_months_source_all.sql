-- account_months and account_month_keys for every account (a full derivation, new members, a loaded derived folder): start it again
delete from account_months;
delete from account_month_keys;
create or replace temp view months_source as select * from usage_daily
