-- one account's usage per bucket and group key in a period [$start, $end) of local days, plus one row per key
-- (no bucket, is_current false) for the previous period (SPEC §9): whole local days [$previous_start,
-- $previous_end_day), then, when it is cut at an instant, the whole local hours of day $previous_end_day before
-- $previous_end_hour (usage_hourly) and the events of the partial hour [$previous_end_hour, $previous_end)
-- (recent_events: tokens and calls; input and output tokens are counted to the whole hour). Without a cut,
-- $previous_end_hour = $previous_end = the previous period's end, and those two parts are empty.
-- $granularity
-- is 'hour' (bucket_hour: the UTC time the local hour starts, from usage_hourly; a DST day has 23 or 25 hours), or
-- 'day', 'week' (ISO, the Monday) or 'month' (the 1st) (bucket_day, from usage_daily); the previous period is
-- read per key only (no bucket).
-- $group is 'none', 'service', 'member' or 'model' (the code picks both from allowlists); a null user_id or model
-- is the key 'unknown'. Filters $services, $members, $models: lists, null = any. The planner sees the bound
-- values, so the rollup a view does not need is not scanned.
with daily as (
    select
        day,
        null::timestamptz as hour,
        service,
        user_id,
        model,
        tokens,
        calls,
        input_tokens,
        output_tokens,
        io_calls
    from usage_daily
    where
        account_id = $account_id
        and (
            (day >= $previous_start and day < $previous_end_day)
            or (day >= $start and day < (case when $granularity = 'hour' then $start else $end end))
        )
),

hourly as (
    select day, hour, service, user_id, model, tokens, calls, input_tokens, output_tokens, io_calls
    from usage_hourly
    where
        account_id = $account_id
        and (
            ($granularity = 'hour' and day >= $start and day < $end)
            or (day = $previous_end_day and hour < $previous_end_hour)
        )
),

previous_partial as (
    select
        day,
        null::timestamptz as hour,
        service,
        user_id,
        model,
        tokens,
        1::bigint as calls,
        null::bigint as input_tokens,
        null::bigint as output_tokens,
        0::bigint as io_calls
    from recent_events
    where account_id = $account_id and occurred_at >= $previous_end_hour and occurred_at < $previous_end
),

usage as (
    select
        day,
        hour,
        service,
        coalesce(user_id, 'unknown') as member,
        coalesce(model, 'unknown') as model,
        tokens,
        calls,
        input_tokens,
        output_tokens,
        io_calls
    from (select * from daily union all select * from hourly union all select * from previous_partial)
),

filtered as (
    select * from usage
    where
        ($services is null or list_contains($services, service))
        and ($members is null or list_contains($members, member))
        and ($models is null or list_contains($models, model))
),

keyed as (
    select
        day >= $start as is_current,
        case
            when day < $start or $granularity = 'hour' then null
            when $granularity = 'week' then date_trunc('week', day)::date
            when $granularity = 'month' then date_trunc('month', day)::date
            else day
        end as bucket_day,
        case when day >= $start then hour end as hour_start,
        case $group when 'service' then service when 'member' then member when 'model' then model else 'all' end
            as key,
        tokens,
        calls,
        input_tokens,
        output_tokens,
        io_calls
    from filtered
),

final as (
    select
        is_current,
        bucket_day,
        -- naive UTC: a time zone-aware value costs the client ~10 µs a row to convert (about 20 ms for an hour view)
        timezone('UTC', hour_start) as bucket_hour,
        key,
        sum(tokens)::bigint as tokens,
        sum(calls)::bigint as calls,
        coalesce(sum(input_tokens), 0)::bigint as input_tokens,
        coalesce(sum(output_tokens), 0)::bigint as output_tokens,
        sum(io_calls)::bigint as io_calls
    from keyed
    group by is_current, bucket_day, hour_start, key
)

select * from final
order by is_current, bucket_day, bucket_hour, key
