-- The app file's own version records, made before any schema part (db/appfile.py).
create table if not exists app.schema_versions (
    version integer primary key,
    applied_at timestamptz not null
);
create table if not exists app.schema_parts (
    part varchar not null,
    version integer not null,
    applied_at timestamptz not null,
    primary key (part, version)
);
