"""Exports to figures: schema, ingest, the store, periods, figures, the ledger, sample exports.

Never imports Streamlit or the web layer; may use `token_analytics.billing` (the app database).
"""
