-- Each change with the set it replaced (old_* null on the first change).
with changes as (
    select
        seq, account_id, changed_by, changed_at,
        balance_below, runway_days_below, usage_multiple,
        lag(balance_below) over w as old_balance_below,
        lag(runway_days_below) over w as old_runway_days_below,
        lag(usage_multiple) over w as old_usage_multiple
    from app.alert_thresholds
    window w as (partition by account_id order by seq)
)
select
    changed_at, changed_by, account_id,
    old_balance_below, balance_below, old_runway_days_below, runway_days_below,
    old_usage_multiple, usage_multiple
from changes
where $account_id is null or account_id = $account_id
order by seq desc
