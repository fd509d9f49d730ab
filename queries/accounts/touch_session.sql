update app.sessions set last_seen_at = $now
where session_key = $session_key and ended_at is null and last_seen_at < $now
