insert into app.alert_outbox (event_id, receiver, created_at) values ($event_id, $receiver, $created_at)
