select part, max(version) from app.schema_parts group by part
