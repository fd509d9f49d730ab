insert into app.adjustments (adjustment_id, account_id, amount, reason, created_by, created_at)
values ($adjustment_id, $account_id, $amount, $reason, $created_by, $created_at)
