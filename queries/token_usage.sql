-- SaaS token usage of one account from its ledger (SPEC §4): used, total, remaining
with entries as (
    select type, amount from ledger where account_id = $account_id
),

sums as (
    select
        coalesce(-sum(amount) filter (where type = 'CONSUME'), 0)::bigint as used,
        coalesce(sum(amount) filter (where type <> 'CONSUME'), 0)::bigint as total
    from entries
),

final as (
    select used, total, total - used as remaining from sums
)

select * from final
