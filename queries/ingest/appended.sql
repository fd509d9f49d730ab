select usage_hourly, usage_daily, ingests from rollup_appends
