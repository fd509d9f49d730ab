create or replace temp view candidates as
with dup_hashes as (select id_hash from raw_events group by id_hash having count(*) > 1)
select r.* from raw_events r semi join dup_hashes using (id_hash)
