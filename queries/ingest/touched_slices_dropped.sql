create or replace temp table slices as
select distinct account_id, timezone($tz, occurred_at)::date as day
from raw_events semi join dropped_files using (file_id)
