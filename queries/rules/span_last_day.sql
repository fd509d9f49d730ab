-- How a span of instants ends (SPEC §9): after its whole local days, the whole local hours of its last day
-- ($..._end_day) before $..._end_hour from usage_hourly, then the events of the partial last hour
-- [$..._end_hour, $..._end) from recent_events (the winning events). Three spans of one account are cut: the
-- current one (month to date's and today so far's: both end now, on today), month to date's previous one
-- ($previous_...) and today so far's previous one ($yesterday_...). Included in a `with` list, it defines
-- last_days (span, user_id, service, model, tokens), span 'today', 'previous' or 'yesterday'.
-- The three last days are different days, or a span clipped to a midnight ($..._end_hour = $..._end = that day's
-- start) has no hour and no event of its own: a row is in at most one span, which the `case` names.
-- The partial hours are read once (one read of recent_events, so one anti join of the losers, not one per span);
-- when all three are empty (on the hour) the first condition is false on constants and nothing is read.
-- $month is false when only today so far is wanted (the self-hosted mode): month to date's previous span is then
-- left out, again on constants, so that its reads are not even planned.
partial_hours as materialized (
    select occurred_at, user_id, service, model, tokens
    from recent_events
    where
        (
            $current_end_hour < $current_end
            or ($month and $previous_end_hour < $previous_end)
            or $yesterday_end_hour < $yesterday_end
        )
        and account_id = $account_id
        and (
            (occurred_at >= $current_end_hour and occurred_at < $current_end)
            or ($month and occurred_at >= $previous_end_hour and occurred_at < $previous_end)
            or (occurred_at >= $yesterday_end_hour and occurred_at < $yesterday_end)
        )
),

last_days as (
    select
        case
            when day = $current_end_day and hour < $current_end_hour then 'today'
            when day = $previous_end_day and hour < $previous_end_hour then 'previous'
            else 'yesterday'
        end as span,
        user_id, service, model, tokens
    from usage_hourly
    where
        account_id = $account_id
        and (
            (day = $current_end_day and hour < $current_end_hour)
            or ($month and day = $previous_end_day and hour < $previous_end_hour)
            or (day = $yesterday_end_day and hour < $yesterday_end_hour)
        )
    union all
    select
        case
            when occurred_at >= $current_end_hour and occurred_at < $current_end then 'today'
            when occurred_at >= $previous_end_hour and occurred_at < $previous_end then 'previous'
            else 'yesterday'
        end as span,
        user_id, service, model, tokens
    from partial_hours
)
