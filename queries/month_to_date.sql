-- tokens of one account per member, service and model in two spans of instants (SPEC §8 month to date): the
-- current one [$current_start_day 00:00, $current_end) and the previous one [$previous_start_day 00:00,
-- $previous_end), each starting on the first day of a month and ending within it or at the next month's start.
-- Each span is whole local days, then its last day cut as queries/rules/span_last_day.sql cuts it (the whole
-- local hours from usage_hourly, the partial last hour from recent_events). The whole days are the month's tokens
-- per key that the ingest keeps (account_month_keys) less the days from the span's last day to the month's end
-- (usage_daily): a month's row per key and a few days instead of every day of two months.
-- The rollups are read once for both spans, and every part's rows are grouped once, by key; the previous span
-- always ends before the current one starts.
with spans as (
    select month = $current_start_day as is_current, user_id, service, model, tokens
    from account_month_keys
    where account_id = $account_id and (month = $current_start_day or month = $previous_start_day)
    union all
    select day >= $current_start_day as is_current, user_id, service, model, -tokens as tokens
    from usage_daily
    where
        account_id = $account_id
        and (
            (day >= $current_end_day and day < ($current_start_day + interval 1 month)::date)
            or (day >= $previous_end_day and day < ($previous_start_day + interval 1 month)::date)
        )
    union all
    {rule:span_last_day}
),

per_key as (
    select
        user_id,
        service,
        model,
        coalesce(sum(case when is_current then tokens end), 0)::bigint as tokens,
        coalesce(sum(case when not is_current then tokens end), 0)::bigint as previous
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
        k.previous
    from per_key as k
    left join members_of_account as m using (user_id)
)

select * from final
order by member, service, model
