-- the data-health report, one row per export file (file_duplicates: per file, the rows that lost to another file's
-- row of the same id, and how many of those differ from the winner)
with final as (
    select
        f.kind,
        f.path,
        f.status,
        f.error,
        f.rows_read,
        f.accepted,
        f.quarantined,
        coalesce(d.duplicates, 0) as duplicates,
        coalesce(d.conflicts, 0) as conflicts,
        f.latest_at
    from files as f
    left join file_duplicates as d using (file_id)
)

select * from final
order by kind, path
