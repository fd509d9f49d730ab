-- The latest event per (account, rule): the alert's state.
select account_id, rule, state, event_id, value, threshold, event_at
from app.alert_events
qualify row_number() over (partition by account_id, rule order by seq desc) = 1
order by account_id, rule
