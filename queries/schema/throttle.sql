-- The app database's `throttle` part (its version is in db/appfile.py SCHEMA_PARTS); every statement is idempotent.

create table if not exists app.sign_in_failures (
    username varchar not null,
    address varchar,
    failed_at timestamptz not null
);

create table if not exists app.sign_in_unlocks (
    scope varchar not null check (scope in ('username', 'address')),
    value varchar not null,
    unlocked_at timestamptz not null,
    unlocked_by varchar not null
);

create table if not exists app.sign_in_clears (
    username varchar not null,
    address varchar,
    cleared_at timestamptz not null
);
