-- how many attached databases carry the name (1 when the app file is attached under it)
select count(*) from duckdb_databases() where database_name = $name
