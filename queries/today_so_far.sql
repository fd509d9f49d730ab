-- tokens of one account in two spans of instants (SPEC §9 today so far): the current one [$current_start_day 00:00,
-- $current_end) and the previous one [$previous_start_day 00:00, $previous_end), cut as queries/month_to_date.sql
-- cuts them (whole local days from usage_daily, whole local hours of the last day from usage_hourly, the partial
-- last hour from recent_events), summed over every key: the same spans without the per-key rows and member names.
with spans as (
    select day >= $current_start_day as is_current, tokens
    from usage_daily
    where
        account_id = $account_id
        and (
            (day >= $current_start_day and day < $current_end_day)
            or (day >= $previous_start_day and day < $previous_end_day)
        )
    union all
    select day = $current_end_day as is_current, tokens
    from usage_hourly
    where
        account_id = $account_id
        and (
            (day = $current_end_day and hour < $current_end_hour)
            or (day = $previous_end_day and hour < $previous_end_hour)
        )
    union all
    select true as is_current, tokens
    from recent_events
    where account_id = $account_id and occurred_at >= $current_end_hour and occurred_at < $current_end
    union all
    select false as is_current, tokens
    from recent_events
    where account_id = $account_id and occurred_at >= $previous_end_hour and occurred_at < $previous_end
),

final as (
    select
        coalesce(sum(case when is_current then tokens end), 0)::bigint as tokens,
        coalesce(sum(case when not is_current then tokens end), 0)::bigint as previous
    from spans
)

select * from final
