select receiver from app.alert_outbox where event_id = $event_id
