-- tokens and calls of one account per calendar window (SPEC §4); days are local dates in ANALYTICS_TIMEZONE
with daily as (
    select day, tokens, calls
    from usage_daily
    where account_id = $account_id
),

final as (
    select
        coalesce(sum(tokens) filter (where day = $today), 0)::bigint as today_tokens,
        coalesce(sum(calls) filter (where day = $today), 0)::bigint as today_calls,
        coalesce(sum(tokens) filter (where day = $yesterday), 0)::bigint as yesterday_tokens,
        coalesce(sum(calls) filter (where day = $yesterday), 0)::bigint as yesterday_calls,
        coalesce(sum(tokens) filter (where day >= $month_start and day < $next_month_start), 0)::bigint
            as month_tokens,
        coalesce(sum(calls) filter (where day >= $month_start and day < $next_month_start), 0)::bigint
            as month_calls,
        coalesce(sum(tokens) filter (where day >= $last_month_start and day < $month_start), 0)::bigint
            as last_month_tokens,
        coalesce(sum(calls) filter (where day >= $last_month_start and day < $month_start), 0)::bigint
            as last_month_calls,
        coalesce(sum(tokens), 0)::bigint as all_tokens,
        coalesce(sum(calls), 0)::bigint as all_calls
    from daily
)

select * from final
