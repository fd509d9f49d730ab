select file_id, count(*), max(occurred_at) from raw_events where file_id between $first and $last group by all
