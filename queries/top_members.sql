-- the leaderboard: members of one account by tokens in a window of local days; ties by user_id ascending
with usage as (
    select user_id, sum(tokens)::bigint as tokens, sum(calls)::bigint as calls
    from usage_daily
    where account_id = $account_id and day >= $start_day and day < $end_day
    group by user_id
),

account_total as (
    select sum(tokens) as tokens from usage
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
    from usage as u
    cross join account_total as t
    left join members_of_account as m using (user_id)
),

final as (
    select * from ranked where rank <= $limit
)

select * from final
order by rank
