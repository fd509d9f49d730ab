select * from app.sessions where session_key = $session_key
