insert into app.schema_parts (part, version, applied_at) values ($part, $version, $applied_at)
