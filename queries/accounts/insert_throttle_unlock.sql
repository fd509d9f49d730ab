insert into app.sign_in_unlocks (scope, value, unlocked_at, unlocked_by) values ($scope, $value, $now, $by)
