-- tokens of one account in two spans of instants (SPEC §9 today so far): the current one [$current_start_day 00:00,
-- $current_end) and the previous one [$previous_start_day 00:00, $previous_end): whole local days from usage_daily,
-- then the last day cut as queries/rules/span_last_day.sql cuts it (as month to date does), summed over every key:
-- the same spans as month to date's without its per-key rows and member names.
with spans as (
    select day >= $current_start_day as is_current, user_id, service, model, tokens
    from usage_daily
    where
        account_id = $account_id
        and (
            (day >= $current_start_day and day < $current_end_day)
            or (day >= $previous_start_day and day < $previous_end_day)
        )
    union all
    {rule:span_last_day}
),

final as (
    select
        coalesce(sum(case when is_current then tokens end), 0)::bigint as tokens,
        coalesce(sum(case when not is_current then tokens end), 0)::bigint as previous
    from spans
)

select * from final
