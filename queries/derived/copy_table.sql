copy export_rows to $path (format parquet)
