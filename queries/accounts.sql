-- every known account: from the accounts export, plus accounts that only appear in usage or the ledger
with exported as (
    select account_id, account_name, owner_name, plan, created_at from accounts
),

seen as (
    select distinct account_id from usage_daily
    union
    select distinct account_id from ledger
),

final as (
    select
        coalesce(e.account_id, s.account_id) as account_id,
        e.account_name,
        e.owner_name,
        e.plan,
        e.created_at
    from exported as e
    full outer join seen as s on e.account_id = s.account_id
)

select * from final
order by account_id
