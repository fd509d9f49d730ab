-- SaaS token usage of one account from its ledger (SPEC §4): used, total, remaining. The exported part comes
-- from the per-account sums ingest keeps (ledger_sums), the app's own entries are added as they stand.
with exported as (
    select used, total from ledger_sums where account_id = $account_id
),

app_entries as (
    select
        coalesce(-sum(case when type = 'CONSUME' then amount end), 0)::bigint as used,
        coalesce(sum(case when type <> 'CONSUME' then amount end), 0)::bigint as total
    from app_ledger
    where account_id = $account_id
),

sums as (
    select
        coalesce((select used from exported), 0) + a.used as used,
        coalesce((select total from exported), 0) + a.total as total
    from app_entries as a
),

final as (
    select used::bigint as used, total::bigint as total, (total - used)::bigint as remaining from sums
)

select * from final
