insert into app.order_events (order_id, step, status, actor, note, event_at)
values ($order_id, $step, $status, $actor, $note, $event_at)
