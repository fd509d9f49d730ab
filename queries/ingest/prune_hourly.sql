delete from usage_hourly where day < $hourly_from
