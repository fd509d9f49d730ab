update app.sessions set ended_at = $now, ended_by = $ended_by, end_reason = $reason
where session_key = $session_key and ended_at is null
returning username, address
