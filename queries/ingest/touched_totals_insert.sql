insert into usage_totals
select account_id, sum(tokens)::bigint as tokens, sum(calls)::bigint as calls
from usage_daily where account_id in (select account_id from slices)
group by account_id
