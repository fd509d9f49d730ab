-- the first local day the hourly rollup keeps (ingest keeps hours for a recent window only); no row when it
-- keeps every day
with final as (
    select value::date as hourly_from from meta where key = 'hourly_from'
)

select * from final
