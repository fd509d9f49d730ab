select * from app.order_status where order_id = $order_id
