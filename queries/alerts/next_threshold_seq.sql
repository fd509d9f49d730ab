select coalesce(max(seq), 0) + 1 from app.alert_thresholds
