-- whether the account has any ledger entry (self-hosted shows /token-history only then)
with entries as (
    select 1 from ledger where account_id = $account_id limit 1
)

select count(*) > 0 as "exists" from entries
