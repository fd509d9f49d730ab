-- Per account and calendar month of `months_source` (the daily rollup, or the touched accounts' part of it): the
-- month's tokens and calls, its three services (each present, in a fixed order) and its leaderboard, the
-- $leaderboard_entries members with the most tokens (ties by user_id ascending) with their share of the month.
-- /analysis reads the row of this month and of last month (queries/analysis_usage.sql).
insert into account_months
with month_keys as (
    select account_id, date_trunc('month', day)::date as month, user_id, service, sum(tokens) as tokens,
        sum(calls) as calls
    from months_source
    group by all
),

service_names as (
    select * from (values ('agent', 1), ('operator', 2), ('assistant', 3)) as s (service, position)
),

months as (
    select account_id, month, sum(tokens)::bigint as tokens, sum(calls)::bigint as calls
    from month_keys
    group by all
),

by_service as (
    select account_id, month, service, sum(tokens) as tokens, sum(calls) as calls
    from month_keys
    group by all
),

services as (
    select
        m.account_id,
        m.month,
        list(
            {'service': s.service, 'tokens': coalesce(u.tokens, 0)::bigint, 'calls': coalesce(u.calls, 0)::bigint}
            order by s.position
        ) as services
    from months as m
    cross join service_names as s
    left join by_service as u on u.account_id = m.account_id and u.month = m.month and u.service = s.service
    group by m.account_id, m.month
),

by_member as (
    select account_id, month, user_id, sum(tokens)::bigint as tokens, sum(calls)::bigint as calls
    from month_keys
    group by all
),

month_total as (
    select account_id, month, sum(tokens) as tokens from by_member group by all
),

ranked as (
    select
        u.account_id,
        u.month,
        row_number() over (partition by u.account_id, u.month order by u.tokens desc, u.user_id asc nulls last) as rank,
        u.user_id,
        coalesce(m.display_name, u.user_id) as display_name,
        u.tokens,
        u.calls,
        case when t.tokens > 0 then u.tokens * 100.0 / t.tokens end as share_pct
    from by_member as u
    inner join month_total as t on t.account_id = u.account_id and t.month = u.month
    left join members as m on m.account_id = u.account_id and m.user_id = u.user_id
),

leaderboard as (
    select
        account_id,
        month,
        coalesce(
            list(
                {
                    'rank': rank,
                    'user_id': user_id,
                    'display_name': display_name,
                    'tokens': tokens,
                    'calls': calls,
                    'share_pct': share_pct
                }
                order by rank
            ) filter (where rank <= $leaderboard_entries),
            []
        ) as leaderboard
    from ranked
    group by all
),

final as (
    select m.account_id, m.month, m.tokens, m.calls, s.services, l.leaderboard
    from months as m
    inner join services as s on s.account_id = m.account_id and s.month = m.month
    inner join leaderboard as l on l.account_id = m.account_id and l.month = m.month
)

select * from final
order by account_id, month
