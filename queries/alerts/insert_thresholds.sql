insert into app.alert_thresholds
    (seq, account_id, balance_below, runway_days_below, usage_multiple, changed_by, changed_at)
values ($seq, $account_id, $balance_below, $runway_days_below, $usage_multiple, $changed_by, $changed_at)
