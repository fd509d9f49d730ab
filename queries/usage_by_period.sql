-- tokens and calls of one account per calendar window (SPEC §4); days are local dates in ANALYTICS_TIMEZONE
with daily as (
    select
        day,
        tokens,
        calls,
        day = $today as is_today,
        day = $yesterday as is_yesterday,
        day >= $month_start and day < $next_month_start as is_month,
        day >= $last_month_start and day < $month_start as is_last_month
    from usage_daily
    where account_id = $account_id
),

final as (
    select
        coalesce(sum(case when is_today then tokens end), 0)::bigint as today_tokens,
        coalesce(sum(case when is_today then calls end), 0)::bigint as today_calls,
        coalesce(sum(case when is_yesterday then tokens end), 0)::bigint as yesterday_tokens,
        coalesce(sum(case when is_yesterday then calls end), 0)::bigint as yesterday_calls,
        coalesce(sum(case when is_month then tokens end), 0)::bigint as month_tokens,
        coalesce(sum(case when is_month then calls end), 0)::bigint as month_calls,
        coalesce(sum(case when is_last_month then tokens end), 0)::bigint as last_month_tokens,
        coalesce(sum(case when is_last_month then calls end), 0)::bigint as last_month_calls,
        coalesce(sum(tokens), 0)::bigint as all_tokens,
        coalesce(sum(calls), 0)::bigint as all_calls
    from daily
)

select * from final
