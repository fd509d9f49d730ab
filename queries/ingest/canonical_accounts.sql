create or replace table accounts as
select account_id, account_name, owner_name, plan, created_at from (
    select r.*, row_number() over (partition by account_id order by f.path desc, r.row_no desc) as pick
    from raw_accounts r join files f using (file_id)
) where pick = 1
