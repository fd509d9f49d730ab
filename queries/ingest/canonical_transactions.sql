create or replace table transactions as
select txn_id, account_id, user_id, type, amount, created_at, payment_method, description from (
    select r.*, row_number() over (partition by txn_id order by f.path desc, r.row_no desc) as pick
    from raw_transactions r join files f using (file_id)
) where pick = 1
order by account_id, created_at
