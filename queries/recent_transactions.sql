-- the latest ledger entries of one account, newest first, ties by txn_id descending. For a list of at most 10
-- the entries older than the account's 10th newest exported one (ledger_sums.recent_from) cannot appear, so the
-- scan stops there instead of reading the account's whole ledger.
with bound as (
    select case when $limit <= 10 then max(recent_from) end as recent_from
    from ledger_sums
    where account_id = $account_id
),

entries as (
    select txn_id, type, amount, created_at, payment_method, description, user_id
    from ledger
    where
        account_id = $account_id
        and created_at >= coalesce((select recent_from from bound), '-infinity'::timestamptz)
),

final as (
    select * from entries
    order by created_at desc, txn_id desc
    limit $limit
)

select * from final
