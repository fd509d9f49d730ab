-- the usage figures of one account for /analysis in one statement (SPEC §4): tokens and calls per calendar window,
-- this month per service (all three always present) and the month's leaderboard (ties by user_id ascending).
-- One read of the account's last two months in the daily rollup serves all three; all-time figures come from the
-- per-account totals ingest keeps (usage_totals), so the cost does not grow with the account's history.
with daily as (
    select user_id, service, day, tokens, calls
    from usage_daily
    where account_id = $account_id and day >= $last_month_start and day < $next_month_start
),

windows as (
    select
        coalesce(sum(case when day = $today then tokens end), 0)::bigint as today_tokens,
        coalesce(sum(case when day = $today then calls end), 0)::bigint as today_calls,
        coalesce(sum(case when day = $yesterday then tokens end), 0)::bigint as yesterday_tokens,
        coalesce(sum(case when day = $yesterday then calls end), 0)::bigint as yesterday_calls,
        coalesce(sum(case when day >= $month_start then tokens end), 0)::bigint as month_tokens,
        coalesce(sum(case when day >= $month_start then calls end), 0)::bigint as month_calls,
        coalesce(sum(case when day < $month_start then tokens end), 0)::bigint as last_month_tokens,
        coalesce(sum(case when day < $month_start then calls end), 0)::bigint as last_month_calls
    from daily
),

all_time as (
    select
        coalesce(sum(tokens), 0)::bigint as all_tokens,
        coalesce(sum(calls), 0)::bigint as all_calls
    from usage_totals
    where account_id = $account_id
),

month_keys as (
    select user_id, service, sum(tokens) as tokens, sum(calls) as calls
    from daily
    where day >= $month_start
    group by user_id, service
),

service_names as (
    select * from (values ('agent', 1), ('operator', 2), ('assistant', 3)) as s (service, position)
),

by_service as (
    select service, sum(tokens) as tokens, sum(calls) as calls
    from month_keys
    group by service
),

services as (
    select
        list(
            {'service': s.service, 'tokens': coalesce(u.tokens, 0)::bigint, 'calls': coalesce(u.calls, 0)::bigint}
            order by s.position
        ) as services
    from service_names as s
    left join by_service as u using (service)
),

by_member as (
    select user_id, sum(tokens)::bigint as tokens, sum(calls)::bigint as calls
    from month_keys
    group by user_id
),

account_total as (
    select sum(tokens) as tokens from by_member
),

members_of_account as (
    select user_id, display_name from members where account_id = $account_id
),

ranked as (
    select
        row_number() over (order by u.tokens desc, u.user_id asc nulls last) as rank,
        u.user_id,
        coalesce(m.display_name, u.user_id) as display_name,
        u.tokens,
        u.calls,
        case when t.tokens > 0 then u.tokens * 100.0 / t.tokens end as share_pct
    from by_member as u
    cross join account_total as t
    left join members_of_account as m using (user_id)
),

leaderboard as (
    select
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
            ) filter (where rank <= $limit),
            []
        ) as leaderboard
    from ranked
),

final as (
    select w.*, a.all_tokens, a.all_calls, s.services, l.leaderboard
    from windows as w
    cross join all_time as a
    cross join services as s
    cross join leaderboard as l
)

select * from final
