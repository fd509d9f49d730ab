-- How many of the app's own ledger entries (purchases, adjustments) an account has. They are only ever
-- appended, so the count changes exactly when one is added: the pages key the figures they keep on it.
select count(*) as entries
from app.ledger_entries
where account_id = $account_id
