insert into usage_hourly
select account_id, to_timestamp((epoch_us(local_hour) - offset_us) / 1000000) as hour, day, user_id, service, model,
    tokens, input_tokens, output_tokens, calls, io_calls, latest_at
from (
    select account_id, date_trunc('hour', local_at) as local_hour,
        epoch_us(local_at) - epoch_us(occurred_at) as offset_us, local_at::date as day, user_id, service, model,
        sum(tokens)::bigint as tokens, coalesce(sum(input_tokens), 0)::bigint as input_tokens,
        coalesce(sum(output_tokens), 0)::bigint as output_tokens, count(*)::bigint as calls,
        count(input_tokens is not null or output_tokens is not null or null)::bigint as io_calls,
        max(occurred_at) as latest_at
    from (select * from rollup_local where occurred_at >= $hourly_from_at)
    where local_at::date >= $hourly_from
    group by all
)
order by account_id, day, hour
