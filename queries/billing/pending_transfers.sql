-- Oldest first: the admin works the queue in the order transfers arrived.
select * from app.order_status
where method = 'BANK_TRANSFER' and status = 'PENDING'
order by created_at, order_id
