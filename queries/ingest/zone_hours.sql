create or replace temp table zone_hours as
select h, epoch_us(timezone($tz, make_timestamptz(h * 3600000000 - $shift))) - (h * 3600000000 - $shift) as offset_us,
    epoch_us(timezone($tz, make_timestamptz(h * 3600000000 - $shift + 3599999999)))
        - (h * 3600000000 - $shift + 3599999999) as offset_end_us
from (select distinct (epoch_us(occurred_at) + $shift) // 3600000000 as h from rollup_source)
