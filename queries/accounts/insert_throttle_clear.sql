insert into app.sign_in_clears (username, address, cleared_at) values ($username, $address, $now)
