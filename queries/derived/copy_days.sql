copy (select * from export_rows where day in (select unnest($days::date[])) order by account_id)
to $dir (format parquet, partition_by (day), filename_pattern 'part-{i}')
