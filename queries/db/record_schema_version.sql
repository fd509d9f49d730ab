insert into app.schema_versions (version, applied_at) values ($version, $applied_at)
