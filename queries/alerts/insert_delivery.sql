insert into app.alert_deliveries (event_id, receiver, attempted_at, ok, attempts, error)
values ($event_id, $receiver, $attempted_at, $ok, $attempts, $error)
