insert into raw_accounts
select b.file_id, row_no, account_id, account_name, owner_name, plan, created_at
from staged join batch_files b using (_ingest_file) where reason is null
