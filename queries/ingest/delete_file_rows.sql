delete from {table} where file_id = $file_id
