-- tokens of one account today so far and yesterday up to the same time (SPEC §9), summed over every key: the
-- today and yesterday of queries/month_to_date.sql without its month to date, for the self-hosted mode, which
-- shows no month to date ($month false: month to date's previous span is not cut). Today is its last day alone;
-- yesterday is its whole local days [$yesterday_start_day, $yesterday_end_day) then its last day, both cut as
-- queries/rules/span_last_day.sql cuts them.
with {rule:span_last_day},

spans as (
    select 'yesterday' as span, tokens
    from usage_daily
    where account_id = $account_id and day >= $yesterday_start_day and day < $yesterday_end_day
    union all
    select span, tokens from last_days
),

final as (
    select
        coalesce(sum(case when span = 'today' then tokens end), 0)::bigint as tokens,
        coalesce(sum(case when span = 'yesterday' then tokens end), 0)::bigint as previous
    from spans
)

select * from final
