select * from app.order_status
where account_id = $account_id
order by created_at desc, order_id desc
