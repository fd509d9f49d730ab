delete from app.sessions where least(coalesce(ended_at, expires_at), expires_at) < $before
