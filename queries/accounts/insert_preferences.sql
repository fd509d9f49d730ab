insert into app.user_preferences (username, name, value, set_at)
values ($username, $name, $value, $set_at)
