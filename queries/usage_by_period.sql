-- tokens and calls of one account per calendar window (SPEC §4); days are local dates in ANALYTICS_TIMEZONE.
-- Only last month and this month are read from the daily rollup; the all-time figures come from the per-account
-- totals ingest keeps (usage_totals), so the cost does not grow with the account's history.
with daily as (
    select
        tokens,
        calls,
        day = $today as is_today,
        day = $yesterday as is_yesterday,
        day >= $month_start as is_month
    from usage_daily
    where account_id = $account_id and day >= $last_month_start and day < $next_month_start
),

windows as (
    select
        coalesce(sum(case when is_today then tokens end), 0)::bigint as today_tokens,
        coalesce(sum(case when is_today then calls end), 0)::bigint as today_calls,
        coalesce(sum(case when is_yesterday then tokens end), 0)::bigint as yesterday_tokens,
        coalesce(sum(case when is_yesterday then calls end), 0)::bigint as yesterday_calls,
        coalesce(sum(case when is_month then tokens end), 0)::bigint as month_tokens,
        coalesce(sum(case when is_month then calls end), 0)::bigint as month_calls,
        coalesce(sum(case when not is_month then tokens end), 0)::bigint as last_month_tokens,
        coalesce(sum(case when not is_month then calls end), 0)::bigint as last_month_calls
    from daily
),

all_time as (
    select
        coalesce(sum(tokens), 0)::bigint as all_tokens,
        coalesce(sum(calls), 0)::bigint as all_calls
    from usage_totals
    where account_id = $account_id
),

final as (
    select w.*, a.all_tokens, a.all_calls from windows as w cross join all_time as a
)

select * from final
