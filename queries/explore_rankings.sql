-- members of one account ranked by tokens in [$start, $end) of local days (ties: user_id ascending), with their
-- rank among all members of the previous period (null: no usage then); a null user_id is the member 'unknown'
-- (SPEC §8). The previous period is read as in explore_series (SPEC §9): whole days [$previous_start,
-- $previous_end_day), the hours of $previous_end_day before $previous_end_hour, the events of
-- [$previous_end_hour, $previous_end).
with usage as (
    select coalesce(user_id, 'unknown') as user_id, day >= $start as is_current, tokens, calls
    from usage_daily
    where
        account_id = $account_id
        and ((day >= $previous_start and day < $previous_end_day) or (day >= $start and day < $end))
    union all
    select coalesce(user_id, 'unknown') as user_id, false as is_current, tokens, calls
    from usage_hourly
    where account_id = $account_id and day = $previous_end_day and hour < $previous_end_hour
    union all
    select coalesce(user_id, 'unknown') as user_id, false as is_current, tokens, 1::bigint as calls
    from recent_events
    where account_id = $account_id and occurred_at >= $previous_end_hour and occurred_at < $previous_end
),

per_member as (
    select
        user_id,
        sum(case when is_current then tokens end)::bigint as tokens,
        sum(case when is_current then calls end)::bigint as calls,
        sum(case when not is_current then tokens end)::bigint as previous_tokens,
        sum(case when not is_current then calls end)::bigint as previous_calls
    from usage
    group by user_id
),

current_ranks as (
    select user_id, tokens, calls, row_number() over (order by tokens desc, user_id asc) as rank
    from per_member
    where calls is not null
),

previous_ranks as (
    select user_id, previous_tokens, row_number() over (order by previous_tokens desc, user_id asc) as previous_rank
    from per_member
    where previous_calls is not null
),

account_total as (
    select sum(tokens) as tokens from current_ranks
),

members_of_account as (
    select user_id, display_name from members where account_id = $account_id
),

final as (
    select
        c.rank,
        c.user_id,
        coalesce(m.display_name, c.user_id) as display_name,
        c.tokens,
        c.calls,
        case when t.tokens > 0 then c.tokens * 100.0 / t.tokens end as share_pct,
        p.previous_rank,
        p.previous_tokens
    from current_ranks as c
    cross join account_total as t
    left join previous_ranks as p using (user_id)
    left join members_of_account as m using (user_id)
)

select * from final
order by rank
