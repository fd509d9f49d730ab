insert into app.ledger_entries
    (txn_id, account_id, user_id, type, amount, created_at, payment_method, description, source)
values
    ($txn_id, $account_id, $user_id, $type, $amount, $created_at, $payment_method, $description, $source)
