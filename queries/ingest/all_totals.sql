create or replace table usage_totals as
select account_id, sum(tokens)::bigint as tokens, sum(calls)::bigint as calls from usage_daily
group by account_id order by account_id
