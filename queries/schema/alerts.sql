-- The app database's `alerts` part (its version is in db/appfile.py SCHEMA_PARTS); every statement is idempotent.

create table if not exists app.alert_thresholds (
    seq bigint primary key,
    account_id varchar not null,
    balance_below bigint,
    runway_days_below integer,
    usage_multiple double,
    changed_by varchar not null,
    changed_at timestamptz not null
);

create table if not exists app.alert_events (
    seq bigint primary key,
    event_id varchar not null unique,
    account_id varchar not null,
    rule varchar not null check (rule in ('balance', 'runway', 'usage_spike')),
    state varchar not null check (state in ('firing', 'resolved')),
    value double,
    threshold double,
    detail varchar,
    event_at timestamptz not null
);

create table if not exists app.alert_outbox (
    event_id varchar not null,
    receiver varchar not null,
    created_at timestamptz not null,
    primary key (event_id, receiver)
);

create table if not exists app.alert_deliveries (
    event_id varchar not null,
    receiver varchar not null,
    attempted_at timestamptz not null,
    ok boolean not null,
    attempts integer not null,
    error varchar
);
