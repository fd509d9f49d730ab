insert into usage_daily
select account_id, local_at::date as day, user_id, service, model, sum(tokens)::bigint as tokens,
    coalesce(sum(input_tokens), 0)::bigint as input_tokens, coalesce(sum(output_tokens), 0)::bigint as output_tokens,
    count(*)::bigint as calls, count(input_tokens is not null or output_tokens is not null or null)::bigint as io_calls,
    max(occurred_at) as latest_at
from rollup_local
group by all
order by account_id, day
