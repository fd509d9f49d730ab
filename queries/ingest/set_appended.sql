update rollup_appends set usage_hourly = $usage_hourly, usage_daily = $usage_daily, ingests = $ingests
