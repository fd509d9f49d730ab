drop table if exists meta; drop table if exists files; drop table if exists quarantine;
drop table if exists raw_accounts; drop table if exists raw_members; drop table if exists raw_events;
drop table if exists raw_transactions; drop table if exists accounts; drop table if exists members;
drop table if exists transactions; drop table if exists transaction_losers; drop table if exists event_losers;
drop table if exists usage_daily; drop table if exists usage_hourly; drop table if exists ledger_sums;
drop table if exists usage_totals; drop table if exists rollup_appends; drop table if exists account_months;
drop table if exists account_month_keys;
