update app.sessions set ended_at = $now, ended_by = $ended_by, end_reason = $reason
where lower(username) = lower($username) and ended_at is null
returning session_key, username
