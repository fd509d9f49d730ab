-- tokens one account consumed (CONSUME entries of the ledger, as a positive number) in [$start_7d, $end) and in
-- [$start_30d, $end): the 7 and 30 complete local days before today (SPEC §8 runway)
with consumed as (
    select amount, created_at
    from ledger
    where account_id = $account_id and type = 'CONSUME' and created_at >= $start_30d and created_at < $end
),

final as (
    select
        coalesce(-sum(case when created_at >= $start_7d then amount end), 0)::bigint as consumed_7d,
        coalesce(-sum(amount), 0)::bigint as consumed_30d
    from consumed
)

select * from final
