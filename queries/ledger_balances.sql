-- the account's balance right after each ledger entry between two ledger positions, both included.
-- Ledger order is created_at, then txn_id (oldest first); the entries before the span are summed, not listed.
-- The plain created_at bounds repeat the keyset bounds so the scan can skip row groups by time.
with entries as (
    select txn_id, amount, created_at
    from ledger
    where account_id = $account_id
),

before_span as (
    select coalesce(sum(amount), 0)::bigint as balance
    from entries
    where
        created_at <= $first_at
        and (created_at < $first_at or txn_id < $first_txn_id)
),

span as (
    select txn_id, amount, created_at
    from entries
    where
        created_at >= $first_at
        and created_at <= $last_at
        and (created_at > $first_at or txn_id >= $first_txn_id)
        and (created_at < $last_at or txn_id <= $last_txn_id)
),

final as (
    select
        s.txn_id,
        (
            b.balance
            + sum(s.amount) over (order by s.created_at asc, s.txn_id asc rows between unbounded preceding and current row)
        )::bigint as running_balance
    from span as s
    cross join before_span as b
)

select * from final
