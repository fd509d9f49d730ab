-- Tokens of one account per member, service and model in four spans of instants, one statement for month to date
-- (SPEC §8) and today so far (SPEC §9):
-- * tokens: this month so far [$current_start_day 00:00, $current_end), the month's first day to now;
-- * previous: the same span of last month [$previous_start_day 00:00, $previous_end);
-- * today: today so far [$current_end_day 00:00, $current_end), the current span's last day;
-- * yesterday: [$yesterday_start_day 00:00, $yesterday_end), yesterday up to the same wall time.
-- Each span is whole local days, then its last day cut as queries/rules/span_last_day.sql cuts it (the whole
-- local hours from usage_hourly, the partial last hour from recent_events); today has no whole day (its span is
-- its last day), so the current span's last day is today's, cut once for both figures. This month's and last
-- month's whole days are the month's tokens per key that the ingest keeps (account_month_keys) less the days from
-- the span's last day to the month's end (usage_daily): a month's row per key and a few days instead of every day
-- of two months. The previous month's span always ends before the current one starts. Today so far is the sum of
-- today and yesterday over every key. $month is true here (the rule's switch: queries/today_so_far.sql, for the
-- self-hosted mode, sets it false).
with {rule:span_last_day},

spans as (
    select case when month = $current_start_day then 'month' else 'previous' end as span,
        user_id, service, model, tokens
    from account_month_keys
    where account_id = $account_id and (month = $current_start_day or month = $previous_start_day)
    union all
    select case when day >= $current_start_day then 'month' else 'previous' end as span,
        user_id, service, model, -tokens as tokens
    from usage_daily
    where
        account_id = $account_id
        and (
            (day >= $current_end_day and day < ($current_start_day + interval 1 month)::date)
            or (day >= $previous_end_day and day < ($previous_start_day + interval 1 month)::date)
        )
    union all
    select 'yesterday' as span, user_id, service, model, tokens
    from usage_daily
    where account_id = $account_id and day >= $yesterday_start_day and day < $yesterday_end_day
    union all
    select span, user_id, service, model, tokens from last_days
),

per_key as (
    select
        user_id,
        service,
        model,
        coalesce(sum(case when span = 'month' or span = 'today' then tokens end), 0)::bigint as tokens,
        coalesce(sum(case when span = 'previous' then tokens end), 0)::bigint as previous,
        coalesce(sum(case when span = 'today' then tokens end), 0)::bigint as today,
        coalesce(sum(case when span = 'yesterday' then tokens end), 0)::bigint as yesterday
    from spans
    group by all
),

members_of_account as (
    select user_id, display_name from members where account_id = $account_id
),

final as (
    select
        coalesce(k.user_id, 'unknown') as member,
        coalesce(m.display_name, k.user_id, 'unknown') as member_label,
        k.service,
        coalesce(k.model, 'unknown') as model,
        k.tokens,
        k.previous,
        k.today,
        k.yesterday
    from per_key as k
    left join members_of_account as m using (user_id)
)

select * from final
order by member, service, model
