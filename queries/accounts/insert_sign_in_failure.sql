insert into app.sign_in_failures (username, address, failed_at) values ($username, $address, $now)
