delete from usage_hourly using slices s where usage_hourly.account_id = s.account_id and usage_hourly.day = s.day
