select file_id, count(*), null from raw_transactions where file_id between $first and $last group by all
