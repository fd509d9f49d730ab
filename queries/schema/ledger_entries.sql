-- The app database's `ledger_entries` part (its version is in db/appfile.py SCHEMA_PARTS); every statement is idempotent.

create table if not exists app.ledger_entries (
    txn_id varchar primary key,
    account_id varchar not null,
    user_id varchar,
    type varchar not null check (type in ('RECHARGE', 'ADJUSTMENT')),
    amount bigint not null check (amount <> 0),
    created_at timestamptz not null,
    payment_method varchar,
    description varchar,
    source varchar not null check (source in ('order', 'adjustment')),
    check (type <> 'RECHARGE' or amount > 0)
);
