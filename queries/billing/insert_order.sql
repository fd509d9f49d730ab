insert into app.orders
    (order_id, account_id, created_by, kind, tokens, price_cents, currency, method, plan, reference, created_at)
values
    ($order_id, $account_id, $created_by, $kind, $tokens, $price_cents, $currency, $method, $plan, $reference,
     $created_at)
