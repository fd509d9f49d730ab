-- How a span of instants ends (SPEC §9): after its whole local days, the whole local hours of its last day
-- ($..._end_day) before $..._end_hour from usage_hourly, then the events of the partial last hour
-- [$..._end_hour, $..._end) from recent_events (the winning events), for the current and the previous span of
-- one account; rows (is_current, user_id, service, model, tokens). Month to date and today so far both cut their
-- spans with it: they include it after their whole days, as `union all` branches. The partial hours are two plain
-- time ranges (each can skip row groups by occurred_at), not one OR.
select day = $current_end_day as is_current, user_id, service, model, tokens
from usage_hourly
where
    account_id = $account_id
    and (
        (day = $current_end_day and hour < $current_end_hour)
        or (day = $previous_end_day and hour < $previous_end_hour)
    )
union all
select true as is_current, user_id, service, model, tokens
from recent_events
where account_id = $account_id and occurred_at >= $current_end_hour and occurred_at < $current_end
union all
select false as is_current, user_id, service, model, tokens
from recent_events
where account_id = $account_id and occurred_at >= $previous_end_hour and occurred_at < $previous_end
