"""Where sign-out lands, in-process (AppTest); the browser side is tests/e2e/test_landing.py."""

from __future__ import annotations

import pytest

from tests.apptest import DEMO_PASSWORDS, _app, _sign_in
from token_analytics.strings import t


def test_sign_out_lands_on_the_sign_in_page_without_the_pages_query(app_env: pytest.MonkeyPatch) -> None:
    at = _app()
    at.query_params["account"] = "acct-002"
    _sign_in(at, "admin", DEMO_PASSWORDS["admin"]).run()
    assert not at.exception and at.query_params["account"] == "acct-002"
    at.sidebar.button(key="nav_logout").click().run()
    assert not at.exception
    assert dict(at.query_params) == {}  # no ?account= left in the address
    assert [field.label for field in at.text_input] == [t("login.username"), t("login.password")]
    assert t("login.signed_out") in [info.value for info in at.info]
    assert len(at.sidebar) == 0  # nothing of the signed-in sidebar is drawn
    assert any("stSidebar" in html.proto.body and "display: none" in html.proto.body for html in at.get("html"))
