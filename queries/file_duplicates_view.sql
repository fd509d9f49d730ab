-- Duplicates and conflicts per export file, for the data-health report (data_health_files.sql). A view over the
-- losers after an ingest; a cache loaded from a derived folder has the counts as a table instead.
create or replace view file_duplicates as
with losers as (
    select file_id, count(*) as duplicates, count(*) filter (where is_conflict) as conflicts
    from event_losers group by file_id
    union all
    select file_id, count(*), count(*) filter (where is_conflict)
    from transaction_losers group by file_id
)
select file_id, sum(duplicates)::bigint as duplicates, sum(conflicts)::bigint as conflicts
from losers group by file_id
