select _ingest_file, reason, count(*) from staged where reason is not null group by all
