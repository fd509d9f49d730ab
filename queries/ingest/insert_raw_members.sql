insert into raw_members
select b.file_id, row_no, user_id, account_id, display_name, email
from staged join batch_files b using (_ingest_file) where reason is null
