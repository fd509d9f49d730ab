create or replace table ledger_sums as
with sums as (
    select account_id, {rule:ledger_used_total} from transactions group by account_id
),
recent as (
    select account_id, created_at as recent_from from transactions
    qualify row_number() over (partition by account_id order by created_at desc, txn_id desc) = $recent_entries
)
select s.account_id, cast(s.used as bigint) as used, cast(s.total as bigint) as total, r.recent_from
from sums s left join recent r using (account_id)
order by account_id
