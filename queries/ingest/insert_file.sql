insert into files values ($file_id, $kind, $path, $size, $mtime_ns, $status, $error, $rows_read,
    $accepted, $quarantined, $latest_at, now())
