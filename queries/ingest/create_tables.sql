-- The tables only a cache an ingest makes holds (with ingest/create_cache.sql, run before this).
create table if not exists raw_accounts (
    file_id integer, row_no bigint, account_id varchar, account_name varchar, owner_name varchar,
    plan varchar, created_at timestamptz
);
create table if not exists raw_members (
    file_id integer, row_no bigint, user_id varchar, account_id varchar, display_name varchar, email varchar
);
create table if not exists raw_events (
    file_id integer, row_no bigint, id_hash ubigint, id_hash2 ubigint, account_id varchar, user_id varchar,
    service varchar,
    occurred_at timestamptz, tokens bigint, input_tokens bigint, output_tokens bigint, model varchar
);
create table if not exists event_losers (
    file_id integer, row_no bigint, id_hash ubigint, id_hash2 ubigint, is_conflict boolean
);
-- Rollup rows appended since each rollup was last written in order, and the ingests that appended them.
create table if not exists rollup_appends (usage_hourly bigint, usage_daily bigint, ingests bigint);
insert into rollup_appends select 0, 0, 0 where not exists (select 1 from rollup_appends);
create table if not exists raw_transactions (
    file_id integer, row_no bigint, txn_id varchar, account_id varchar, user_id varchar, type varchar,
    amount bigint, created_at timestamptz, payment_method varchar, description varchar
);
-- The winning events with their local day: what month to date's partial hour reads (a view, so ingest
-- costs nothing more; a derived folder loads the same columns as a table, engine/derived.py).
create view if not exists recent_events as
select r.account_id, r.occurred_at, r.user_id, r.service, r.model, r.tokens,
    timezone((select value from meta where key = 'timezone'), r.occurred_at)::date as day
from raw_events as r anti join event_losers as l using (file_id, row_no);
