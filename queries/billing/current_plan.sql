select plan from app.order_status
where account_id = $account_id and kind = 'plan' and status = 'PAID'
order by status_at desc, order_id desc
limit 1
