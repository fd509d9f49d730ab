-- the latest ledger entries of one account, newest first, ties by txn_id descending
with entries as (
    select txn_id, type, amount, created_at, payment_method, description, user_id
    from ledger
    where account_id = $account_id
),

final as (
    select * from entries
    order by created_at desc, txn_id desc
    limit $limit
)

select * from final
