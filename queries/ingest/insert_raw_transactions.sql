insert into raw_transactions
select b.file_id, row_no, txn_id, account_id, user_id, type, amount, created_at, payment_method, description
from staged join batch_files b using (_ingest_file) where reason is null
