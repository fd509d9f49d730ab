select * from app.plan_requests
where $account_id is null or account_id = $account_id
order by created_at desc, request_id desc
