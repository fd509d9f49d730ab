delete from event_losers using dropped_files d where event_losers.file_id = d.file_id
