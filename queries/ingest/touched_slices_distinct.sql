create or replace temp table slices as select distinct account_id, day from slices
