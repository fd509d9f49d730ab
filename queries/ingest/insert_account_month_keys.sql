-- Per account, calendar month, member, service and model of `months_source`: the month's tokens (month to date
-- takes a span's whole days as these less the days from the span's end to the month's end: queries/month_to_date.sql).
insert into account_month_keys
select account_id, date_trunc('month', day)::date as month, user_id, service, model, sum(tokens)::bigint as tokens
from months_source
group by all
order by account_id, month
