-- Outbox rows without a successful delivery, oldest event first (a clear never overtakes its start).
with delivered as (
    select distinct event_id, receiver from app.alert_deliveries where ok
),

final as (
    select o.receiver, e.seq, e.event_id, e.account_id, e.rule, e.state, e.value, e.threshold, e.detail, e.event_at
    from app.alert_outbox as o
    join app.alert_events as e using (event_id)
    anti join delivered as d on d.event_id = o.event_id and d.receiver = o.receiver
)

select * from final order by receiver, seq
