delete from usage_totals where account_id in (select account_id from slices)
