-- Unlocks and clears older than `since` only clear failures older than it, which are not read.
select scope, value, max(unlocked_at) as at
from app.sign_in_unlocks
where unlocked_at > $since
group by scope, value
