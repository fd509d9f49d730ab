-- one account's name, owner and plan (no row when the account is not in the accounts export)
with final as (
    select account_id, account_name, owner_name, plan, created_at
    from accounts
    where account_id = $account_id
)

select * from final
