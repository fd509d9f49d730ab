-- insert_hourly.sql, grouped by the key of rollup_keys instead of the four text columns (the same rows).
insert into usage_hourly
select c.account_id, to_timestamp((epoch_us(h.local_hour) - h.offset_us) / 1000000) as hour, h.day, c.user_id,
    c.service, c.model, h.tokens, h.input_tokens, h.output_tokens, h.calls, h.io_calls, h.latest_at
from (
    select hash(account_id, user_id, service, model) as k, date_trunc('hour', local_at) as local_hour,
        epoch_us(local_at) - epoch_us(occurred_at) as offset_us, local_at::date as day,
        sum(tokens)::bigint as tokens, coalesce(sum(input_tokens), 0)::bigint as input_tokens,
        coalesce(sum(output_tokens), 0)::bigint as output_tokens, count(*)::bigint as calls,
        count(input_tokens is not null or output_tokens is not null or null)::bigint as io_calls,
        max(occurred_at) as latest_at
    from (select * from rollup_local where occurred_at >= $hourly_from_at)
    where local_at::date >= $hourly_from
    group by all
) as h
join rollup_keys as c using (k)
order by c.account_id, h.day, hour
