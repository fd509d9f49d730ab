-- The app database's `audit` part (its version is in db/appfile.py SCHEMA_PARTS); every statement is idempotent.

create table if not exists app.audit_log (
    event_at timestamptz not null,
    actor varchar,
    address varchar,
    action varchar not null,
    account_id varchar,
    target varchar,
    detail varchar
);

create table if not exists app.audit_refusals (
    minute timestamptz not null,
    actor varchar not null,
    address varchar,
    first_at timestamptz not null,
    last_at timestamptz not null,
    detail varchar not null,
    refusals integer not null
);
