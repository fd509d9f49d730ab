-- the /analysis cards' sparklines: tokens and calls of one account per local day from $first_day to $today
-- inclusive (days without usage are absent; the caller fills them with zeros)
select day, sum(tokens)::bigint as tokens, sum(calls)::bigint as calls
from usage_daily
where account_id = $account_id and day >= $first_day and day <= $today
group by day
order by day
