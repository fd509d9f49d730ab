"""Token Analytics Center: DuckDB figures over an AI-agent platform's usage exports."""
