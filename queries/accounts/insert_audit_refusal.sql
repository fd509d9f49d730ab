insert into app.audit_refusals (minute, actor, address, first_at, last_at, detail, refusals)
values ($minute, $actor, $address, $now, $now, $detail, 1)
