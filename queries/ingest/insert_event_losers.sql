insert into event_losers
with dup_ids as (select id_hash, id_hash2 from candidates group by all having count(*) > 1),
ranked as (
    select c.file_id, c.row_no, c.id_hash, c.id_hash2,
        hash(c.account_id, c.user_id, c.service, c.occurred_at, c.tokens, c.input_tokens, c.output_tokens,
            c.model) as h,
        row_number() over w as pick, first_value(h) over w as winner_h
    from candidates c semi join dup_ids using (id_hash, id_hash2) join files f using (file_id)
    window w as (partition by c.id_hash, c.id_hash2 order by f.path desc, c.row_no desc)
)
select file_id, row_no, id_hash, id_hash2, h <> winner_h as is_conflict from ranked where pick > 1
