create or replace table transaction_losers as
with dup_ids as (select txn_id from raw_transactions group by txn_id having count(*) > 1),
ranked as (
    select r.file_id, r.txn_id,
        hash(r.account_id, r.user_id, r.type, r.amount, r.created_at, r.payment_method, r.description) as h,
        row_number() over w as pick, first_value(h) over w as winner_h
    from raw_transactions r semi join dup_ids using (txn_id) join files f using (file_id)
    window w as (partition by r.txn_id order by f.path desc, r.row_no desc)
)
select file_id, txn_id, h <> winner_h as is_conflict from ranked where pick > 1
