-- The app database's `adjustments` part (its version is in db/appfile.py SCHEMA_PARTS); every statement is idempotent.

create table if not exists app.adjustments (
    adjustment_id varchar primary key,
    account_id varchar not null,
    amount bigint not null check (amount <> 0),
    reason varchar not null check (trim(reason) <> ''),
    created_by varchar not null,
    created_at timestamptz not null
);
