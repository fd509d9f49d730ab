-- quarantined rows by file and reason
with final as (
    select f.kind, f.path, q.reason, q.rows
    from quarantine as q
    inner join files as f using (file_id)
)

select * from final
order by kind, path, reason
