-- one account's usage per bucket and group key in a period [$start, $end) of local days, plus one row per key
-- (bucket null, is_current false) for the previous equal period [$previous_start, $start) (SPEC §8). $granularity is
-- 'day', 'week' (ISO, the Monday) or 'month' (the 1st); $group is 'none', 'service', 'member' or 'model' (the code
-- picks both from allowlists); a null user_id or model is the key 'unknown'. Filters $services, $members, $models: lists, null = any.
with usage as (
    select
        day,
        service,
        coalesce(user_id, 'unknown') as member,
        coalesce(model, 'unknown') as model,
        tokens,
        calls,
        input_tokens,
        output_tokens,
        io_calls
    from usage_daily
    where account_id = $account_id and day >= $previous_start and day < $end
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
            when day < $start then null
            when $granularity = 'week' then date_trunc('week', day)::date
            when $granularity = 'month' then date_trunc('month', day)::date
            else day
        end as bucket,
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
        bucket,
        key,
        sum(tokens)::bigint as tokens,
        sum(calls)::bigint as calls,
        coalesce(sum(input_tokens), 0)::bigint as input_tokens,
        coalesce(sum(output_tokens), 0)::bigint as output_tokens,
        sum(io_calls)::bigint as io_calls
    from keyed
    group by is_current, bucket, key
)

select * from final
order by is_current, bucket, key
