-- tokens of one account per member, service and model in two spans of instants (SPEC §8 month to date): the
-- current one [$current_start_day 00:00, $current_end) and the previous one [$previous_start_day 00:00,
-- $previous_end). Each span is whole local days from usage_daily, then the whole local hours of its last day from
-- usage_hourly, then the events of the partial last hour [$..._end_hour, $..._end) from raw_events (winners only).
with current_days as (
    select user_id, service, model, tokens
    from usage_daily
    where account_id = $account_id and day >= $current_start_day and day < $current_end_day
),

current_hours as (
    select user_id, service, model, tokens
    from usage_hourly
    where account_id = $account_id and day = $current_end_day and hour < $current_end_hour
),

current_partial as (
    select r.user_id, r.service, r.model, r.tokens
    from raw_events as r
    anti join event_losers as l using (file_id, row_no)
    where r.account_id = $account_id and r.occurred_at >= $current_end_hour and r.occurred_at < $current_end
),

previous_days as (
    select user_id, service, model, tokens
    from usage_daily
    where account_id = $account_id and day >= $previous_start_day and day < $previous_end_day
),

previous_hours as (
    select user_id, service, model, tokens
    from usage_hourly
    where account_id = $account_id and day = $previous_end_day and hour < $previous_end_hour
),

previous_partial as (
    select r.user_id, r.service, r.model, r.tokens
    from raw_events as r
    anti join event_losers as l using (file_id, row_no)
    where r.account_id = $account_id and r.occurred_at >= $previous_end_hour and r.occurred_at < $previous_end
),

spans as (
    select true as is_current, * from current_days
    union all
    select true, * from current_hours
    union all
    select true, * from current_partial
    union all
    select false, * from previous_days
    union all
    select false, * from previous_hours
    union all
    select false, * from previous_partial
),

members_of_account as (
    select user_id, display_name from members where account_id = $account_id
),

final as (
    select
        coalesce(s.user_id, 'unknown') as member,
        coalesce(m.display_name, s.user_id, 'unknown') as member_label,
        s.service,
        coalesce(s.model, 'unknown') as model,
        coalesce(sum(case when s.is_current then s.tokens end), 0)::bigint as tokens,
        coalesce(sum(case when not s.is_current then s.tokens end), 0)::bigint as previous
    from spans as s
    left join members_of_account as m using (user_id)
    group by all
)

select * from final
order by member, service, model
