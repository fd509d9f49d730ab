-- tokens and calls of one account in a window of local days, per service, all three always present
with services as (
    select * from (values ('agent', 1), ('operator', 2), ('assistant', 3)) as s (service, position)
),

usage as (
    select service, sum(tokens) as tokens, sum(calls) as calls
    from usage_daily
    where account_id = $account_id and day >= $start_day and day < $end_day
    group by service
),

final as (
    select
        s.service,
        coalesce(u.tokens, 0)::bigint as tokens,
        coalesce(u.calls, 0)::bigint as calls,
        s.position
    from services as s
    left join usage as u using (service)
)

select service, tokens, calls from final
order by position
