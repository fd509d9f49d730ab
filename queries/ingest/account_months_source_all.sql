-- account_months for every account (a full derivation, new members, a loaded derived folder): start it again
delete from account_months;
create or replace temp view months_source as select * from usage_daily
