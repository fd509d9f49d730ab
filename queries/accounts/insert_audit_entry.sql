insert into app.audit_log (event_at, actor, address, action, account_id, target, detail)
values ($event_at, $actor, $address, $action, $account_id, $target, $detail)
