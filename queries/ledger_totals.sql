-- entries and summed amount per type of an account's filtered ledger (same filters as ledger_page);
-- all five types always present, in the order of SPEC §3
with types as (
    select * from (
        values ('CONSUME', 1), ('RECHARGE', 2), ('BONUS', 3), ('REFUND', 4), ('ADJUSTMENT', 5)
    ) as t (type, position)
),

filtered as (
    select type, amount
    from ledger
    where
        account_id = $account_id
        and ($types is null or list_contains($types, type))
        and ($start_at is null or created_at >= $start_at)
        and ($end_at is null or created_at < $end_at)
        and ($user_id is null or user_id = $user_id)
        and ($payment_method is null or payment_method = $payment_method)
),

sums as (
    select type, count(*) as entries, sum(amount) as amount
    from filtered
    group by type
),

final as (
    select
        t.type,
        coalesce(s.entries, 0)::bigint as entries,
        coalesce(s.amount, 0)::bigint as amount,
        t.position
    from types as t
    left join sums as s on s.type = t.type
)

select type, entries, amount from final
order by position
