-- The app database's `preferences` part (its version is in db/appfile.py SCHEMA_PARTS); every statement is idempotent.

create table if not exists app.user_preferences (
    username varchar not null,
    name varchar not null check (name in ('language')),
    value varchar not null,
    set_at timestamptz not null
);
