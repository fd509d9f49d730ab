update app.audit_refusals
set refusals = refusals + 1, last_at = greatest(last_at, $now), detail = $detail
where minute = $minute and actor = $actor and address is not distinct from $address
returning refusals
