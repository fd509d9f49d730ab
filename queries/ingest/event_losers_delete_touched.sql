delete from event_losers using touched_ids t
where event_losers.id_hash = t.id_hash and event_losers.id_hash2 = t.id_hash2
