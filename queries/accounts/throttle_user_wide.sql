-- How many failures on one username, over every address, still count in the window: counted
-- here, not read row by row, since a guess spread over many addresses makes many rows.
with unlocks as (
    select scope, value, max(unlocked_at) as at
    from app.sign_in_unlocks
    where unlocked_at > $since
    group by scope, value
),

clears as (
    select address, max(cleared_at) as at
    from app.sign_in_clears
    where cleared_at > $since and username = $username
    group by address
)

select count(*)
from app.sign_in_failures as f
left join unlocks as by_name on by_name.scope = 'username' and by_name.value = f.username
left join unlocks as by_address on by_address.scope = 'address' and by_address.value = f.address
left join clears as c on c.address is not distinct from f.address
where f.username = $username and f.failed_at > $since
    and (by_name.at is null or f.failed_at > by_name.at)
    and (by_address.at is null or f.failed_at > by_address.at)
    and (c.at is null or f.failed_at > c.at)
