-- Idle and expired sessions are filtered here as well: they end for good only when next used.
select * from app.sessions
where ended_at is null
    and expires_at > $now
    and last_seen_at > $idle_since
    and ($username is null or lower(username) = lower($username))
order by last_seen_at desc, session_key
