"""What `streamlit run serve.py` (and `make run`) serves: dashboard.py behind the app's HTTP middleware.

Streamlit finds `app` and runs it with uvicorn; every Streamlit option (`--server.port`,
.streamlit/config.toml) applies as with `streamlit run dashboard.py`.
"""

import streamlit as st
from starlette.middleware import Middleware

from token_analytics.web.asgi import NestedPathRedirect

app = st.App("dashboard.py", middleware=[Middleware(NestedPathRedirect)])
