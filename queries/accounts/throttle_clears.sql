select username, address, max(cleared_at) as at from app.sign_in_clears where cleared_at > $since
group by username, address
