-- every service, member and model seen in one account's usage, with a label: a member's display name (its
-- user_id when unknown); a null user_id or model is the key 'unknown'
with usage as (
    select distinct service, coalesce(user_id, 'unknown') as member, coalesce(model, 'unknown') as model
    from usage_daily
    where account_id = $account_id
),

members_of_account as (
    select user_id, display_name from members where account_id = $account_id
),

keys as (
    select distinct 'service' as dimension, service as key from usage
    union all
    select distinct 'member', member from usage
    union all
    select distinct 'model', model from usage
),

final as (
    select
        k.dimension,
        k.key,
        case when k.dimension = 'member' then coalesce(m.display_name, k.key) else k.key end as label
    from keys as k
    left join members_of_account as m on k.dimension = 'member' and m.user_id = k.key
)

select * from final
order by dimension, key
