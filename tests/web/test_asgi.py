"""The HTTP middleware in front of Streamlit (serve.py): nested page paths become unknown routes."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from token_analytics.web.asgi import NestedPathRedirect, unknown_nested_path


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/analysis/acct-001", "/analysis%2Facct-001"),
        ("/token-history/2026/11", "/token-history%2F2026%2F11"),
        ("/analysis/acct-001/", "/analysis%2Facct-001"),
        ("/analysis", None),  # a page: served as it is
        ("/", None),
        ("/analysis%2Facct-001", None),  # the redirected form is one segment: no loop
        ("/static/js/index.js", None),  # Streamlit's own routes
        ("/_stcore/stream", None),
        ("/media/abc.png", None),
        ("/component/streamlit_authenticator/index.html", None),
        ("/app/static/logo.png", None),
    ],
)
def test_only_nested_page_paths_are_redirected(path: str, target: str | None) -> None:
    assert unknown_nested_path("GET", path) == target


def test_only_browser_reads_are_redirected() -> None:
    assert unknown_nested_path("HEAD", "/a/b") == "/a%2Fb"
    assert unknown_nested_path("POST", "/a/b") is None


def test_the_middleware_redirects_with_the_query_and_passes_the_rest() -> None:
    async def echo(request) -> PlainTextResponse:  # noqa: ANN001 - starlette Request
        return PlainTextResponse(request.url.path)

    app = Starlette(routes=[Route("/{rest:path}", echo)], middleware=[Middleware(NestedPathRedirect)])
    client = TestClient(app)
    moved = client.get("/analysis/acct-001?account=acct-002", follow_redirects=False)
    assert moved.status_code == 302
    assert moved.headers["location"] == "/analysis%2Facct-001?account=acct-002"
    assert client.get("/analysis", follow_redirects=False).text == "/analysis"
    followed = client.get("/analysis/acct-001")  # the target is served, not redirected again
    assert followed.status_code == 200
    assert followed.text == "/analysis/acct-001"  # starlette decodes %2F; the page is still unknown
