-- one account's usage per bucket and group key in a period [$start, $end) of local days, plus one row per key
-- (no bucket, is_current false) for the previous equal period [$previous_start, $start) (SPEC §8). $granularity
-- is 'hour' (bucket_hour: the UTC time the local hour starts, from usage_hourly; a DST day has 23 or 25 hours), or
-- 'day', 'week' (ISO, the Monday) or 'month' (the 1st) (bucket_day, from usage_daily); the previous period is
-- always read from usage_daily (per key only: a day row sums its hours, and it reaches before the hourly window).
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
        and day >= $previous_start
        and day < (case when $granularity = 'hour' then $start else $end end)
),

hourly as (
    select day, hour, service, user_id, model, tokens, calls, input_tokens, output_tokens, io_calls
    from usage_hourly
    where $granularity = 'hour' and account_id = $account_id and day >= $start and day < $end
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
    from (select * from daily union all select * from hourly)
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
