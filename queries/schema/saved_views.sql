-- The app database's `saved_views` part (its version is in db/appfile.py SCHEMA_PARTS); every statement is idempotent.

create table if not exists app.saved_views (
    username varchar not null,
    name varchar not null,
    query varchar not null,
    removed boolean not null,
    saved_at timestamptz not null
);
