-- The tables a cache loaded from a derived folder holds besides those every cache has (ingest/create_cache.sql):
-- what an ingest keeps as views or builds from raw rows, here plain tables filled from the folder.
create table file_duplicates (file_id integer, duplicates bigint, conflicts bigint);
create table accounts (
    account_id varchar, account_name varchar, owner_name varchar, plan varchar, created_at timestamptz
);
create table members (user_id varchar, account_id varchar, display_name varchar, email varchar);
create table transactions (
    txn_id varchar, account_id varchar, user_id varchar, type varchar, amount bigint, created_at timestamptz,
    payment_method varchar, description varchar
);
create table ledger_sums (account_id varchar, used bigint, total bigint, recent_from timestamptz);
create table recent_events (
    account_id varchar, occurred_at timestamptz, user_id varchar, service varchar, model varchar, tokens bigint,
    day date
);
