insert into app.plan_requests (request_id, account_id, requested_by, plan, kind, contact, message, created_at)
values ($request_id, $account_id, $requested_by, $plan, $kind, $contact, $message, $created_at)
