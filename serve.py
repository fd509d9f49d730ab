"""What `streamlit run serve.py` (and `make run`) serves: dashboard.py behind the app's HTTP middleware.

Streamlit finds `app` and runs it with uvicorn; every Streamlit option (`--server.port`,
.streamlit/config.toml) applies as with `streamlit run dashboard.py`.

uvicorn imports this module before it answers any request, so the sample data (the default
`ANALYTICS_DATA_DIR`, when missing) is generated here, with its progress in the terminal: the first
visitor finds it ready instead of waiting for it, and `/_stcore/health` answers only once it exists.
"""

import time

import streamlit as st
from starlette.middleware import Middleware

from token_analytics.engine.store import data_dir_ready
from token_analytics.settings import SettingsError, load_settings
from token_analytics.web.asgi import NestedPathRedirect


def prepare_sample() -> None:
    """Generate the default sample when it is missing, printing each file; any other data folder is left alone."""
    try:
        settings = load_settings()
    except SettingsError:
        return  # the dashboard shows the one-line error to the first visitor, and logs it
    if settings.derived_dir is not None or not settings.data_dir_is_default or settings.data_dir.is_dir():
        return
    print(f"  First start: generating the sample data in {settings.data_dir} …", flush=True)
    started = time.monotonic()
    data_dir_ready(settings, progress=lambda message: print(f"    {message}", flush=True))
    print(f"  Sample data ready in {time.monotonic() - started:.1f} s.", flush=True)


prepare_sample()
app = st.App("dashboard.py", middleware=[Middleware(NestedPathRedirect)])
