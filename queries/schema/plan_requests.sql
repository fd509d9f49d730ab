-- The app database's `plan_requests` part (its version is in db/appfile.py SCHEMA_PARTS); every statement is idempotent.

create table if not exists app.plan_requests (
    request_id varchar primary key,
    account_id varchar not null,
    requested_by varchar not null,
    plan varchar not null check (plan in ('pro', 'enterprise')),
    kind varchar not null check (kind in ('upgrade', 'enterprise_contact')),
    contact varchar,
    message varchar,
    created_at timestamptz not null
);
