delete from usage_daily using slices s where usage_daily.account_id = s.account_id and usage_daily.day = s.day
