insert into app.sessions
    (session_key, username, fingerprint, created_at, last_seen_at, expires_at, user_agent, address)
values ($session_key, $username, $fingerprint, $created_at, $created_at, $expires_at, $user_agent, $address)
