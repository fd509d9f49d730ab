insert into app.alert_events (seq, event_id, account_id, rule, state, value, threshold, detail, event_at)
values ($seq, $event_id, $account_id, $rule, $state, $value, $threshold, $detail, $event_at)
