"""No markup from data: every page, both modes, each role, with Markdown and HTML in every text field.

Every text field of the exports (account and owner names, member names and e-mails, transaction
descriptions) and of the app database (adjustment reasons, plan-request contact and message,
rejected-transfer notes) holds HOSTILE. The test walks every element AppTest sees that Streamlit
renders as Markdown (or HTML) and asserts that no piece of HOSTILE's markup arrives unescaped:
no image, link, emphasis, colour, icon, LaTeX or HTML from data. Dataframe cells and charts are
plain text to Streamlit and are not inspected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.protobuf.message import Message
from streamlit.testing.v1 import AppTest

from tests import builders as b
from tests.apptest import DEMO_PASSWORDS, _app, _sign_in
from tests.builders import SAMPLE_NOW
from token_analytics.accounts.users import User, load_auth
from token_analytics.appdb import AppDB
from token_analytics.engine.sample import generate
from token_analytics.engine.store import Store
from token_analytics.settings import ROOT, VARIABLES, load_settings
from token_analytics.web import ui
from token_analytics.web.fmt import plain

HOSTILE = (
    "![t](http://127.0.0.1:9/x.png) [l](http://127.0.0.1:9/) <img src=http://127.0.0.1:9/y.png> "
    "**b** _i_ `c` :red[r] :material/home: $x^2$ ~s~ # h | q"
)
# Each piece of markup in HOSTILE, as it would reach Markdown unescaped.
MARKUP = ["![t]", "](http", "<img", "**b**", "_i_", "`c`", ":red[r]", ":material/home:", "$x^2$", "~s~"]
# Elements Streamlit draws without Markdown: their text is shown as it is.
PLAIN_ELEMENTS = {
    "text",
    "code",
    "arrow_data_frame",
    "dataframe",
    "plotly_chart",
    "vega_lite_chart",
    "exception",
    "json",
}
# Fields drawn as plain text (checked in chromium, Streamlit 1.67): a selectbox's options and value are
# not Markdown, so they are not escaped either (escaping would show the backslashes).
_CHOICE = frozenset({"options", "default", "value", "raw_value", "raw_values"})
PLAIN_FIELDS = {"selectbox": _CHOICE, "multiselect": _CHOICE}


def write_hostile_export(root: Path) -> Path:
    """A small generated export whose every text field is HOSTILE."""
    generate(root, accounts=3, events=1500, seed=2, now=datetime.fromisoformat(SAMPLE_NOW))
    for kind, columns in (
        ("accounts", ("account_name", "owner_name")),
        ("members", ("display_name", "email")),
        ("transactions", ("description",)),
    ):
        for path in sorted((root / kind).rglob("*.parquet")):
            table = pq.read_table(path)
            for column in columns:
                index = table.schema.get_field_index(column)
                table = table.set_column(index, column, pa.array([HOSTILE] * len(table), pa.string()))
            pq.write_table(table, path)
    at = b.utc("2026-11-28T01:00:00+00:00")
    b.transactions(root, "transactions/hostile.parquet",
                   [b.tx("t-hostile", "acct-001", "RECHARGE", 500, at, "BANK_TRANSFER", HOSTILE)])  # fmt: skip
    return root


def fill_app_db(settings_env: dict[str, str]) -> None:
    """The app database's free text: an adjustment reason, a plan request, a rejected transfer, a pending one."""
    store = Store.open(load_settings(settings_env))
    try:
        appdb = AppDB(store.cursor())
        appdb.post_adjustment("acct-001", 100, HOSTILE, "admin")
        appdb.request_plan("acct-001", "manager", "enterprise", "enterprise_contact", contact=HOSTILE, message=HOSTILE)
        rejected = appdb.create_order("acct-001", "manager", "recharge", 1000, 1000, "BANK_TRANSFER")
        appdb.reject_transfer(rejected.order_id, "admin", note=HOSTILE)
        appdb.create_order("acct-001", "manager", "recharge", 2000, 2000, "BANK_TRANSFER")
    finally:
        store.close()


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hostile_export(tmp_path_factory.mktemp("hostile") / "export")


@pytest.fixture
def hostile_env(app_env: pytest.MonkeyPatch, hostile_dir: Path, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    env = {
        "ANALYTICS_DATA_DIR": str(hostile_dir),
        "ANALYTICS_APP_DB": str(tmp_path / "app.duckdb"),
        "ANALYTICS_NOW": SAMPLE_NOW,
    }
    fill_app_db(env)
    for name, value in env.items():
        app_env.setenv(name, value)
    yield app_env


def _strings(message: Message, skip: frozenset[str] = frozenset()) -> Iterator[str]:
    """Every string field of a proto message, nested ones included (top-level fields in `skip` left out)."""
    for field, value in message.ListFields():
        if field.name in skip:
            continue
        values = value if isinstance(value, Iterable) and not isinstance(value, str | bytes | Message) else [value]
        for item in values:
            if isinstance(item, str):
                yield item
            elif isinstance(item, Message):
                yield from _strings(item)


def rendered_markdown(at: AppTest) -> list[tuple[str, str]]:
    """(element type, string) of every element and block label Streamlit renders as Markdown or HTML."""
    found: list[tuple[str, str]] = []

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        kind = str(getattr(node, "type", ""))
        if isinstance(proto, Message) and kind not in PLAIN_ELEMENTS:
            found.extend((kind, text) for text in _strings(proto, PLAIN_FIELDS.get(kind, frozenset())))
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    return found


def unescaped_markup(at: AppTest) -> list[str]:
    """Each element whose text carries a piece of HOSTILE's markup unescaped, as `type: text` (shortened)."""
    found = rendered_markdown(at)
    return sorted({f"{kind}: {text[:90]}" for kind, text in found for piece in MARKUP if piece in _live(text)})


def _live(text: str) -> str:
    """`text` with every backslash-escaped character blanked out: what Markdown would still act on."""
    return re.sub(r"\\.", "\0", text, flags=re.S)


ROLES = ["admin", "manager", "analyst"]


@pytest.mark.parametrize("mode", ["saas", "self-hosted"])
@pytest.mark.parametrize("username", ROLES)
def test_no_page_renders_markup_from_data(hostile_env: pytest.MonkeyPatch, mode: str, username: str) -> None:
    hostile_env.setenv("ANALYTICS_MODE", mode)
    at = _sign_in(_app(), username, DEMO_PASSWORDS[username])
    at.run()
    assert not at.exception, at.exception
    seen_escaped = False
    specs = [spec for spec in ui.PAGES if spec.key in {page.key for page in ui.allowed_pages(mode, _user(username))}]
    assert specs, "no page to visit"
    found: dict[str, list[str]] = {}
    for spec in specs:
        at.switch_page(f"app_pages/{spec.file}").run()
        assert not at.exception, (spec.key, at.exception)
        if unescaped := unescaped_markup(at):
            found[spec.key] = unescaped
        seen_escaped = seen_escaped or any(plain("127.0.0.1:9") in text for _, text in rendered_markdown(at))
    assert found == {}, "\n".join(f"{page} | {text}" for page, texts in found.items() for text in texts)
    # the data did reach Markdown somewhere (escaped), so the check above looked at something; in
    # self-hosted mode names appear only in tables
    assert seen_escaped or mode == "self-hosted"


def _user(username: str) -> User:
    user = load_auth(ROOT / VARIABLES["ANALYTICS_AUTH_FILE"][0]).user(username)
    assert user is not None
    return user


def test_plain_leaves_no_live_markup_and_reads_the_same() -> None:
    from token_analytics.web.fmt import WORD_JOINER

    shown = plain(HOSTILE + "\n# heading www.example.com li.wei@example.com")
    assert [piece for piece in MARKUP if piece in _live(shown)] == []
    # what a person reads: the text itself (escapes and word joiners are not drawn), lines joined
    assert re.sub(r"\\(.)", r"\1", shown.replace(WORD_JOINER, "")) == (
        HOSTILE + " # heading www.example.com li.wei@example.com"
    )
    # no bare address is left for the autolinker: every `:`, `.` and `@` follows a word joiner
    assert all(shown[i - 2 : i] == WORD_JOINER + "\\" for i, char in enumerate(shown) if char in ":.@")
    assert plain("acct-001") == r"acct\-001"
