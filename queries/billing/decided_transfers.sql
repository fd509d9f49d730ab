-- Newest decision first: the admin's history of confirmed and rejected transfers, every account in one statement.
select * from app.order_status
where method = 'BANK_TRANSFER' and status <> 'PENDING'
order by status_at desc, order_id desc
