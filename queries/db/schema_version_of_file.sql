select coalesce(max(version), 0) from app.schema_versions
