-- The app database's `orders` part (its version is in db/appfile.py SCHEMA_PARTS); every statement is idempotent.

create table if not exists app.orders (
    order_id varchar primary key,
    account_id varchar not null,
    created_by varchar not null,
    kind varchar not null check (kind in ('recharge', 'plan')),
    tokens bigint not null check (tokens >= 0),
    price_cents bigint not null check (price_cents >= 0),
    currency varchar not null,
    method varchar not null check (method in ('WECHAT', 'ALIPAY', 'BANK_TRANSFER')),
    plan varchar,
    reference varchar not null unique,
    created_at timestamptz not null,
    check ((kind = 'plan') = (plan is not null))
);

create table if not exists app.order_events (
    order_id varchar not null,
    step integer not null check (step in (0, 1)),
    status varchar not null check (status in ('PENDING', 'PAID', 'CANCELLED')),
    actor varchar not null,
    note varchar,
    event_at timestamptz not null,
    primary key (order_id, step),
    check ((step = 0) = (status = 'PENDING'))
);

create or replace view app.order_status as
with latest_event as (
    select *
    from app.order_events
    qualify row_number() over (partition by order_id order by step desc) = 1
),

final as (
    select
        o.order_id,
        o.account_id,
        o.created_by,
        o.kind,
        o.tokens,
        o.price_cents,
        o.currency,
        o.method,
        o.plan,
        o.reference,
        o.created_at,
        e.status,
        e.event_at as status_at,
        e.actor as status_by,
        e.note as status_note,
        l.txn_id
    from app.orders as o
    inner join latest_event as e on e.order_id = o.order_id
    left join app.ledger_entries as l on l.txn_id = 'app-order-' || o.order_id
)

select * from final;
