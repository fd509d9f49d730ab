-- the people a ledger can be filtered by, with the name to show: the account's members, plus user ids seen only
-- in its ledger. A name is the member's display_name, else the sign-in name of an app user ($app_user_ids and
-- $app_user_names, parallel lists: the app's own entries carry the sign-in username), else the user_id itself.
with known as (
    select user_id, nullif(trim(display_name), '') as display_name
    from members
    where account_id = $account_id
),

seen as (
    select distinct user_id from ledger where account_id = $account_id and user_id is not null
),

app_users as (
    select
        unnest($app_user_ids::varchar[]) as user_id,
        nullif(trim(unnest($app_user_names::varchar[])), '') as display_name
),

people as (
    select coalesce(k.user_id, s.user_id) as user_id, k.display_name
    from known as k
    full outer join seen as s on s.user_id = k.user_id
),

final as (
    select
        p.user_id,
        coalesce(p.display_name, a.display_name, p.user_id) as display_name
    from people as p
    left join app_users as a on a.user_id = p.user_id
)

select * from final
order by display_name, user_id
