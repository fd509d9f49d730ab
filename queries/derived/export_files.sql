-- the data-health report's rows per export file, in the derived format's columns (docs/DERIVED_FORMAT.md)
create or replace temp table export_rows as
select f.file_id, f.kind, f.path, f.size, f.mtime_ns, f.status, f.error, f.rows_read, f.accepted,
    f.quarantined, coalesce(d.duplicates, 0)::bigint as duplicates,
    coalesce(d.conflicts, 0)::bigint as conflicts, f.latest_at
from files as f left join file_duplicates as d using (file_id)
