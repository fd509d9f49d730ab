"""The HTTP layer in front of Streamlit: nested page paths (`/analysis/acct-001`) become unknown routes.

Streamlit answers every unknown path with its index.html, whose scripts are linked relative to
the URL (`./static/js/...`). At `/analysis/acct-001` the browser asks for
`/analysis/static/js/...`, gets index.html again instead of JavaScript, and shows a blank
white page. A page path in this app is one segment, so a browser asking for a deeper path
that no Streamlit route serves is sent to the same path with its slashes encoded
(`/analysis%2Facct-001`): one segment, so the scripts load, and Streamlit says "Page not
found" and runs the landing page, as it does for any other unknown route.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

# Top-level path segments Streamlit serves itself (scripts, the websocket, media, components,
# the app's own static folder, sign-in callbacks): requests under them are never redirected.
STREAMLIT_PREFIXES = frozenset({"_stcore", "static", "media", "component", "app", "auth", "oauth2callback"})


def unknown_nested_path(method: str, raw_path: str) -> str | None:
    """Where a browser asking for `raw_path` is sent, or None when the path is served as it is."""
    if method not in ("GET", "HEAD"):
        return None
    segments = [segment for segment in raw_path.split("/") if segment]
    if len(segments) < 2 or segments[0] in STREAMLIT_PREFIXES:
        return None
    return "/" + quote("/".join(segments), safe="")


class NestedPathRedirect:
    """ASGI middleware: a nested page path is redirected to its one-segment form (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # raw_path keeps %2F encoded, so the redirected request is one segment and passes through.
            raw = scope.get("raw_path") or scope["path"].encode()
            target = unknown_nested_path(scope["method"], raw.decode("latin-1"))
            if target is not None:
                query = scope.get("query_string", b"").decode("latin-1")
                location = target + (f"?{query}" if query else "")
                await send(
                    {
                        "type": "http.response.start",
                        "status": 302,
                        "headers": [(b"location", location.encode("latin-1")), (b"cache-control", b"no-cache")],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)
