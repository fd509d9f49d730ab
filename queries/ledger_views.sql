-- The ledger of SPEC §4: the exported transactions plus the app's own entries, counted once per txn_id (an
-- export that later carries an app entry's txn_id replaces it instead of doubling it). `app_ledger` is the app's
-- part of it (queries that take the exported part from the per-account sums in `ledger_sums` add only this).
create or replace view app_ledger as
select
    e.txn_id, e.account_id, e.user_id, e.type, e.amount, e.created_at, e.payment_method, e.description,
    'app' as source
from app.ledger_entries e
where not exists (select 1 from transactions t where t.txn_id = e.txn_id);
create or replace view ledger as
select txn_id, account_id, user_id, type, amount, created_at, payment_method, description, 'export' as source
from transactions
union all
select * from app_ledger
