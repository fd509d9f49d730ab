-- the latest row per name counts (rowid breaks a tie within one microsecond); removed names are left out
with ranked as (
    select name, query, removed,
        row_number() over (partition by name order by saved_at desc, rowid desc) as n
    from app.saved_views
    where username = $username
)
select name, query from ranked where n = 1 and not removed order by lower(name), name
