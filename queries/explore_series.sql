-- one account's usage per bucket and group key in a period [$start, $end) of local days; $granularity is one of
-- 'day', 'week' (ISO, the Monday), 'month' (the 1st); group and filters as in explore_totals.sql
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
    where account_id = $account_id and day >= $start and day < $end
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
        case $granularity
            when 'week' then date_trunc('week', day)::date
            when 'month' then date_trunc('month', day)::date
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
        bucket,
        key,
        sum(tokens)::bigint as tokens,
        sum(calls)::bigint as calls,
        coalesce(sum(input_tokens), 0)::bigint as input_tokens,
        coalesce(sum(output_tokens), 0)::bigint as output_tokens,
        sum(io_calls)::bigint as io_calls
    from keyed
    group by bucket, key
)

select * from final
order by bucket, key
