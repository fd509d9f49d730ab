-- tokens of one account in two spans of instants (SPEC §9 today so far): the current one
-- [$current_start_day 00:00, $current_end) and the previous one [$previous_start_day 00:00, $previous_end).
-- Each span is its whole local days from usage_daily, the whole local hours of its last day from usage_hourly,
-- then the events of the partial last hour [$..._end_hour, $..._end) from recent_events.
-- The previous span always ends at or before the current one's start, so each row counts in one span only.
with days as (
    select day >= $current_start_day as is_current, sum(tokens) as tokens
    from usage_daily
    where
        account_id = $account_id
        and (
            (day >= $current_start_day and day < $current_end_day)
            or (day >= $previous_start_day and day < $previous_end_day)
        )
    group by all
),

current_hours as (
    select true as is_current, sum(tokens) as tokens
    from usage_hourly
    where account_id = $account_id and day = $current_end_day and hour < $current_end_hour
),

previous_hours as (
    select false as is_current, sum(tokens) as tokens
    from usage_hourly
    where account_id = $account_id and day = $previous_end_day and hour < $previous_end_hour
),

current_partial as (
    select true as is_current, sum(tokens) as tokens
    from recent_events
    where account_id = $account_id and occurred_at >= $current_end_hour and occurred_at < $current_end
),

previous_partial as (
    select false as is_current, sum(tokens) as tokens
    from recent_events
    where account_id = $account_id and occurred_at >= $previous_end_hour and occurred_at < $previous_end
),

spans as (
    select * from days
    union all
    select * from current_hours
    union all
    select * from previous_hours
    union all
    select * from current_partial
    union all
    select * from previous_partial
),

final as (
    select
        coalesce(sum(case when is_current then tokens end), 0)::bigint as tokens,
        coalesce(sum(case when not is_current then tokens end), 0)::bigint as previous
    from spans
)

select * from final
