insert into quarantine values ($file_id, $reason, $rows)
