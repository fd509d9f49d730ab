-- the data-health report, one row per export file
with losers as (
    select file_id, count(*) as duplicates, count(*) filter (where is_conflict) as conflicts
    from event_losers group by file_id
    union all
    select file_id, count(*), count(*) filter (where is_conflict)
    from transaction_losers group by file_id
),

dups as (
    select file_id, sum(duplicates)::bigint as duplicates, sum(conflicts)::bigint as conflicts
    from losers group by file_id
),

final as (
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
    left join dups as d using (file_id)
)

select * from final
order by kind, path
