select
    a.*,
    l.txn_id
from app.adjustments as a
left join app.ledger_entries as l on l.txn_id = 'app-adj-' || a.adjustment_id
where $account_id is null or a.account_id = $account_id
order by a.created_at desc, a.adjustment_id desc
