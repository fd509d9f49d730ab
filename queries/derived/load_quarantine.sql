insert into quarantine
select f.file_id, q.reason, q.rows
from read_parquet($glob, hive_partitioning = false) as q inner join files as f using (path)
