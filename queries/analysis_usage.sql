-- the usage figures of one account for /analysis in one statement (SPEC §4), as rows of three kinds: 'month', the
-- account's row of account_months for this month and for last month (tokens, calls, the three services and the
-- leaderboard, kept by the ingest; a month without usage has no row), 'day', tokens and calls of today and of
-- yesterday (from the daily rollup; a day without usage has no row), and 'all', the all-time tokens and calls ingest
-- keeps (usage_totals). The grouping is done when the data changes, so a view reads a few rows and plans little.
with months as (
    select 'month' as kind, month as day, tokens, calls, services, leaderboard
    from account_months
    where account_id = $account_id and (month = $month_start or month = $last_month_start)
),

days as (
    select 'day' as kind, day, sum(tokens)::bigint as tokens, sum(calls)::bigint as calls, null as services,
        null as leaderboard
    from usage_daily
    where account_id = $account_id and (day = $today or day = $yesterday)
    group by day
),

all_time as (
    select 'all' as kind, null::date as day, tokens, calls, null as services, null as leaderboard
    from usage_totals
    where account_id = $account_id
),

final as (
    select * from months
    union all
    select * from days
    union all
    select * from all_time
)

select * from final
