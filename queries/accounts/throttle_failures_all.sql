select username, address, failed_at from app.sign_in_failures where failed_at > $since order by failed_at
