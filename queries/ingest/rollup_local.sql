create or replace temp view rollup_local as
select r.*, case when z.offset_us = z.offset_end_us then make_timestamp(epoch_us(r.occurred_at) + z.offset_us)
        else timezone(getvariable('ingest_tz'), r.occurred_at) end as local_at
from rollup_source r join zone_hours z on (epoch_us(r.occurred_at) + 362880000000000000) // 3600000000 = z.h
