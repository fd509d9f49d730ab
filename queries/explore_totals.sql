-- one account's usage per group key in a period [$start, $end) of local days and in the period just before it
-- [$previous_start, $start) (SPEC §8). $group is one of 'none', 'service', 'member', 'model' (the code picks it
-- from an allowlist); a null user_id or model is the key 'unknown'. Filters $services, $members, $models are
-- lists of keys, null = any.
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
        case $group when 'service' then service when 'member' then member when 'model' then model else 'all' end
            as key,
        day >= $start as is_current,
        tokens,
        calls,
        input_tokens,
        output_tokens,
        io_calls
    from filtered
),

final as (
    select
        key,
        coalesce(sum(case when is_current then tokens end), 0)::bigint as tokens,
        coalesce(sum(case when is_current then calls end), 0)::bigint as calls,
        coalesce(sum(case when is_current then input_tokens end), 0)::bigint as input_tokens,
        coalesce(sum(case when is_current then output_tokens end), 0)::bigint as output_tokens,
        coalesce(sum(case when is_current then io_calls end), 0)::bigint as io_calls,
        coalesce(sum(case when not is_current then tokens end), 0)::bigint as previous_tokens,
        coalesce(sum(case when not is_current then calls end), 0)::bigint as previous_calls,
        coalesce(sum(case when not is_current then input_tokens end), 0)::bigint as previous_input_tokens,
        coalesce(sum(case when not is_current then output_tokens end), 0)::bigint as previous_output_tokens,
        coalesce(sum(case when not is_current then io_calls end), 0)::bigint as previous_io_calls
    from keyed
    group by key
)

select * from final
order by key
