-- Newest first; every filter is optional (null matches everything). `$user` is whoever acted or
-- whose session ended; the refusal counters read as `sign_in.refused` rows.
with log as (
    select event_at, actor, address, action, account_id, target, detail, 1 as count, 1 as source, rowid as seq
    from app.audit_log
    union all
    select last_at, actor, address, 'sign_in.refused', null, null, detail, refusals, 0, 0
    from app.audit_refusals
)

select event_at, actor, address, action, account_id, target, detail, count
from log
where ($since is null or event_at >= $since)
    and ($until is null or event_at < $until)
    and ($actor is null or lower(actor) = lower($actor))
    and ($user is null or lower(actor) = lower($user) or (action = 'session.end' and lower(target) = lower($user)))
    and ($action is null or action = $action)
    and ($actions is null or list_contains($actions, action))
    and ($account_id is null or account_id = $account_id)
order by event_at desc, source, seq desc  -- seq: the order of appending, for equal times
limit $limit
