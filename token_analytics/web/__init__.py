"""The Streamlit glue: sign-in, page helpers, the payment panel, charts, tables, formatting, strings."""
