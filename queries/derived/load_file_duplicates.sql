insert into file_duplicates
select f.file_id, d.duplicates, d.conflicts
from read_parquet($glob, hive_partitioning = false) as d inner join files as f using (path)
where d.duplicates > 0 or d.conflicts > 0
