-- The latest set per account (accounts whose latest set is all off are left out by the caller).
select account_id, balance_below, runway_days_below, usage_multiple, changed_by, changed_at
from app.alert_thresholds
where $account_id is null or account_id = $account_id
qualify row_number() over (partition by account_id order by seq desc) = 1
order by account_id
