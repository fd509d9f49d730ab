select * from app.ledger_entries
where $account_id is null or account_id = $account_id
order by created_at desc, txn_id desc
