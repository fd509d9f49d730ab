-- The app database's `sessions` part (its version is in db/appfile.py SCHEMA_PARTS); every statement is idempotent.

create table if not exists app.sessions (
    session_key varchar primary key,
    username varchar not null,
    fingerprint varchar not null,
    created_at timestamptz not null,
    last_seen_at timestamptz not null,
    expires_at timestamptz not null,
    user_agent varchar,
    address varchar,
    ended_at timestamptz,
    ended_by varchar,
    end_reason varchar
);
