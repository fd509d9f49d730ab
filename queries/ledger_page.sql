-- one page of an account's filtered ledger, newest first (ties: txn_id descending); ledger_balances.sql adds
-- the running balance of the page's rows. Filters: $types (list, null = every type), [$start_at, $end_at)
-- instants (null = open), $user_id and $payment_method (null = any).
with entries as (
    select txn_id, user_id, type, amount, created_at, payment_method, description, source
    from ledger
    where account_id = $account_id
),

filtered as (
    select * from entries
    where
        ($types is null or list_contains($types, type))
        and ($start_at is null or created_at >= $start_at)
        and ($end_at is null or created_at < $end_at)
        and ($user_id is null or user_id = $user_id)
        and ($payment_method is null or payment_method = $payment_method)
),

final as (
    select txn_id, created_at, type, amount, user_id, payment_method, description, source
    from filtered
    order by created_at desc, txn_id desc
    limit $limit offset $offset
)

select * from final
order by created_at desc, txn_id desc
