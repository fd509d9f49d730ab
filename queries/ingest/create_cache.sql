-- The tables every cache holds, whether an ingest made it or it was loaded from a derived folder.
create table if not exists meta (key varchar primary key, value varchar);
create table if not exists files (
    file_id integer primary key, kind varchar, path varchar, size bigint, mtime_ns bigint,
    status varchar, error varchar, rows_read bigint, accepted bigint, quarantined bigint,
    latest_at timestamptz, read_at timestamptz
);
create table if not exists quarantine (file_id integer, reason varchar, rows bigint);
create table if not exists usage_hourly (
    account_id varchar, hour timestamptz, day date, user_id varchar, service varchar, model varchar, tokens bigint,
    input_tokens bigint, output_tokens bigint, calls bigint, io_calls bigint, latest_at timestamptz
);
create table if not exists usage_daily (
    account_id varchar, day date, user_id varchar, service varchar, model varchar, tokens bigint,
    input_tokens bigint, output_tokens bigint, calls bigint, io_calls bigint, latest_at timestamptz
);
create table if not exists usage_totals (account_id varchar, tokens bigint, calls bigint);
-- Per account and calendar month, what /analysis shows of that month: tokens, calls, the three services and the
-- leaderboard (queries/ingest/insert_account_months.sql), so its figure set reads one row instead of grouping the
-- daily rollup on every view. Rebuilt from usage_daily and members by every ingest and by the derived-folder loader.
create table if not exists account_months (
    account_id varchar, month date, tokens bigint, calls bigint,
    services struct(service varchar, tokens bigint, calls bigint)[],
    leaderboard struct(rank bigint, user_id varchar, display_name varchar, tokens bigint, calls bigint, share_pct double)[]
);
-- Per account, calendar month, member, service and model: the month's tokens, so month to date reads a month's
-- whole days as one row per key less the few days after the span (queries/ingest/insert_account_month_keys.sql).
create table if not exists account_month_keys (
    account_id varchar, month date, user_id varchar, service varchar, model varchar, tokens bigint
);
