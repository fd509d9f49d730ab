-- the ledger figures of one account for /analysis in one statement: SaaS token usage (used, total, remaining: the
-- exported part from the per-account sums ingest keeps in ledger_sums, the app's own entries added as they stand),
-- the owner's name (null when the account is not in the accounts export), the latest entries, newest first,
-- ties by txn_id descending, and the runway's consumption (SPEC §8: the CONSUME entries, as a positive number, in
-- [$start_7d, $end) and in [$start_30d, $end), the 7 and 30 complete local days before today). For a list of at most
-- $recent_entries (settings.RECENT_ENTRIES, the depth ingest keeps) the entries older than the account's
-- that-many-th newest exported one (ledger_sums.recent_from) cannot appear, so that scan stops there instead of
-- reading the whole ledger. The ledger is the exported transactions plus the app's entries (app_ledger, the `ledger`
-- view's app part), read once here for the sums, the list and the runway: each read of the view plans its anti join
-- again, and the runway in its own statement cost a statement's planning more.
with exported as (
    select used, total, recent_from from ledger_sums where account_id = $account_id
),

app_rows as (
    select txn_id, type, amount, created_at, payment_method, description
    from app_ledger
    where account_id = $account_id
),

app_entries as (
    select {rule:ledger_used_total}
    from app_rows
),

sums as (
    select
        coalesce((select used from exported), 0) + a.used as used,
        coalesce((select total from exported), 0) + a.total as total
    from app_entries as a
),

entries as (
    select txn_id, type, amount, created_at, payment_method, description
    from transactions
    where
        account_id = $account_id
        and created_at >= coalesce(
            (select case when $limit <= $recent_entries then max(recent_from) end from exported), '-infinity'::timestamptz
        )
    union all
    select * from app_rows
),

recent as (
    select
        coalesce(
            list(
                {
                    'txn_id': txn_id,
                    'type': type,
                    'amount': amount,
                    'created_at': created_at,
                    'payment_method': payment_method,
                    'description': description
                }
                order by created_at desc, txn_id desc
            ),
            []
        ) as recent
    from (select * from entries order by created_at desc, txn_id desc limit $limit)
),

consumed as (
    select
        coalesce(-sum(case when created_at >= $start_7d then amount end), 0)::bigint as consumed_7d,
        coalesce(-sum(amount), 0)::bigint as consumed_30d
    from (
        select amount, created_at
        from transactions
        where account_id = $account_id and type = 'CONSUME' and created_at >= $start_30d and created_at < $end
        union all
        select amount, created_at
        from app_rows
        where type = 'CONSUME' and created_at >= $start_30d and created_at < $end
    )
),

final as (
    select
        s.used::bigint as used,
        s.total::bigint as total,
        (s.total - s.used)::bigint as remaining,
        (select owner_name from accounts where account_id = $account_id) as owner_name,
        r.recent,
        c.consumed_7d,
        c.consumed_30d
    from sums as s
    cross join recent as r
    cross join consumed as c
)

select * from final
