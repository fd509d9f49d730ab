-- the members a ledger can be filtered by: the account's members, plus user ids seen only in its ledger
with known as (
    select user_id, display_name from members where account_id = $account_id
),

seen as (
    select distinct user_id from ledger where account_id = $account_id and user_id is not null
),

final as (
    select
        coalesce(k.user_id, s.user_id) as user_id,
        coalesce(k.display_name, s.user_id) as display_name
    from known as k
    full outer join seen as s on s.user_id = k.user_id
)

select * from final
order by display_name, user_id
