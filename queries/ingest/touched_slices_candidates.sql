insert into slices select distinct account_id, timezone($tz, occurred_at)::date as day from candidates_rows
