-- every entry of an account's filtered ledger, newest first (ties: txn_id descending), with the balance right
-- after each entry (the CSV export); the balance runs over the whole, unfiltered ledger of the account, then
-- the filters apply. Filters as in ledger_page.sql.
with entries as (
    select txn_id, user_id, type, amount, created_at, payment_method, description, source
    from ledger
    where account_id = $account_id
),

balanced as (
    select
        *,
        sum(amount) over (
            order by created_at asc, txn_id asc rows between unbounded preceding and current row
        )::bigint as running_balance
    from entries
),

filtered as (
    select * from balanced
    where
        ($types is null or list_contains($types, type))
        and ($start_at is null or created_at >= $start_at)
        and ($end_at is null or created_at < $end_at)
        and ($user_id is null or user_id = $user_id)
        and ($payment_method is null or payment_method = $payment_method)
),

final as (
    select txn_id, created_at, type, amount, running_balance, user_id, payment_method, description, source
    from filtered
)

select * from final
order by created_at desc, txn_id desc
