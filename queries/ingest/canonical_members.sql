create or replace table members as
select user_id, account_id, display_name, email from (
    select r.*, row_number() over (partition by user_id order by f.path desc, r.row_no desc) as pick
    from raw_members r join files f using (file_id)
) where pick = 1
