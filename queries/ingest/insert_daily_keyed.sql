-- insert_daily.sql, grouped by the key of rollup_keys instead of the four text columns (the same rows).
insert into usage_daily
select c.account_id, d.day, c.user_id, c.service, c.model, d.tokens, d.input_tokens, d.output_tokens, d.calls,
    d.io_calls, d.latest_at
from (
    select hash(account_id, user_id, service, model) as k, local_at::date as day, sum(tokens)::bigint as tokens,
        coalesce(sum(input_tokens), 0)::bigint as input_tokens,
        coalesce(sum(output_tokens), 0)::bigint as output_tokens, count(*)::bigint as calls,
        count(input_tokens is not null or output_tokens is not null or null)::bigint as io_calls,
        max(occurred_at) as latest_at
    from rollup_local
    group by all
) as d
join rollup_keys as c using (k)
order by c.account_id, d.day
