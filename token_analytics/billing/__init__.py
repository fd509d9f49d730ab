"""What the app itself writes and sells: the app database, payment providers, prices.

Imports no other layer of the package (only `token_analytics.settings`).
"""
