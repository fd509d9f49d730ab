insert into raw_events
select b.file_id, row_no, hash(event_id), hash('#' || event_id), account_id, user_id, service, occurred_at,
    tokens, input_tokens, output_tokens, model
from staged join batch_files b using (_ingest_file) where reason is null
