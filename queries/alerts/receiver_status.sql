-- Per receiver: the latest attempt, the latest failure and how many notifications wait.
with attempts as (
    select receiver, attempted_at, ok, error,
        row_number() over (partition by receiver order by attempted_at desc, ok) as newest
    from app.alert_deliveries
),

last_failure as (
    select receiver, max(attempted_at) as failed_at, arg_max(error, attempted_at) as error
    from app.alert_deliveries
    where not ok
    group by receiver
),

delivered as (
    select distinct event_id, receiver from app.alert_deliveries where ok
),

pending as (
    select o.receiver, count(*) as pending
    from app.alert_outbox as o
    anti join delivered as d on d.event_id = o.event_id and d.receiver = o.receiver
    group by o.receiver
),

receivers as (
    select distinct receiver from app.alert_outbox
),

final as (
    select
        r.receiver,
        a.attempted_at as last_attempt_at,
        a.ok as last_ok,
        f.failed_at as last_failure_at,
        f.error as last_error,
        coalesce(p.pending, 0) as pending
    from receivers as r
    left join attempts as a on a.receiver = r.receiver and a.newest = 1
    left join last_failure as f on f.receiver = r.receiver
    left join pending as p on p.receiver = r.receiver
)

select * from final order by receiver
