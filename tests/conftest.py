"""Shared fixtures: a hand-built export whose every figure is computed by hand in the tests."""

from __future__ import annotations

import shutil
import threading
import weakref
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from tests import builders as b
from tests.apptest import app_env, demo_auth_file, sample_cache  # noqa: F401  (fixtures for the AppTest suites)
from tests.builders import SAMPLE_NOW, ev, tx, utc
from token_analytics.appdb import AppDB, open_app_db
from token_analytics.engine.store import Store
from token_analytics.settings import Settings, load_settings
from token_analytics.web import data

# Every Store opened while the tests run (Store.open is wrapped below); a closed or collected one drops out.
_opened: weakref.WeakSet[Store] = weakref.WeakSet()
SERVICE_THREAD = "cli-service"  # service.py: one per store the web layer opens

# "now" of the edge-case fixture: Sunday 1 Nov 2026, 10:00 in Asia/Shanghai (02:00 UTC).
NOW = "2026-11-01T10:00:00+08:00"


def write_edge_export(root: Path) -> Path:
    """The edge-case export; the comments give each row's local day in Asia/Shanghai."""
    b.accounts(
        root,
        "accounts/accounts.parquet",
        [
            {
                "account_id": "acct-a",
                "account_name": "Alpha",
                "owner_name": "Li Wei",
                "plan": "pro",
                "created_at": utc("2026-09-01T00:00:00+00:00"),
            },
            {
                "account_id": "acct-over",
                "account_name": "Over",
                "owner_name": "Zhang Min",
                "plan": "free",
                "created_at": utc("2026-09-01T00:00:00+00:00"),
            },
            {
                "account_id": "acct-empty",
                "account_name": "Empty",
                "owner_name": "Nobody",
                "plan": "free",
                "created_at": utc("2026-09-01T00:00:00+00:00"),
            },
            {
                "account_id": "acct-tie",
                "account_name": "Tie",
                "owner_name": "Tie Owner",
                "plan": "pro",
                "created_at": utc("2026-09-01T00:00:00+00:00"),
            },
            {
                "account_id": None,
                "account_name": "No id",
                "owner_name": "x",
                "plan": "free",
                "created_at": utc("2026-09-01T00:00:00+00:00"),
            },
        ],
    )
    b.members(
        root,
        "members/members.parquet",
        [
            {"user_id": "u1", "account_id": "acct-a", "display_name": "Alice", "email": "a@example.com"},
            {"user_id": "u2", "account_id": "acct-a", "display_name": "Bob", "email": "b@example.com"},
            {"user_id": "t-a", "account_id": "acct-tie", "display_name": "Tie A", "email": "ta@example.com"},
            {"user_id": "t-b", "account_id": "acct-tie", "display_name": "Tie B", "email": "tb@example.com"},
        ],
    )
    # October partition, microsecond timestamps, tz-aware
    b.events(
        root,
        "usage_events/month=2026-10/part-0.parquet",
        [
            ev("e1", "acct-a", "u1", "agent", utc("2026-10-31T16:00:00+00:00"), 100),  # 11-01 00:00 local: today
            ev("e6", "acct-a", "u1", "agent", utc("2026-09-30T15:59:59+00:00"), 5),  # 09-30: all time only
            ev("e7", "acct-a", "u2", "operator", utc("2026-11-01T02:00:00+00:00"), 10),  # loses to the later file
            ev("t1", "acct-tie", "t-b", "agent", utc("2026-11-01T01:00:00+00:00"), 40),
            ev("t2", "acct-tie", "t-a", "agent", utc("2026-11-01T01:00:00+00:00"), 40),
            ev("t3", "acct-tie", "ghost", "assistant", utc("2026-11-01T01:00:00+00:00"), 20),  # unknown member
            # bad rows: each quarantined with its reason
            ev(None, "acct-a", "u1", "agent", utc("2026-11-01T01:00:00+00:00"), 999),
            ev("bad-svc", "acct-a", "u1", "robot", utc("2026-11-01T01:00:00+00:00"), 999),
            ev("bad-neg", "acct-a", "u1", "agent", utc("2026-11-01T01:00:00+00:00"), -5),
            ev("bad-acct", None, "u1", "agent", utc("2026-11-01T01:00:00+00:00"), 999),
            ev("bad-time", "acct-a", "u1", "agent", None, 999),
            ev("bad-tokens", "acct-a", "u1", "agent", utc("2026-11-01T01:00:00+00:00"), None),
        ],
    )
    # millisecond unit: 23:59:59.999 local on 31 Oct is still yesterday
    b.events(
        root,
        "usage_events/month=2026-10/part-1-ms.parquet",
        [ev("e2", "acct-a", "u2", "operator", utc("2026-10-31T15:59:59.999000+00:00"), 50)],
        overrides={"occurred_at": pa.timestamp("ms", tz="UTC")},
    )
    # naive timestamps are UTC: 2026-09-30 16:00 UTC is 1 Oct 00:00 local (last month)
    b.events(
        root,
        "usage_events/month=2026-09/naive.parquet",
        [ev("e5", "acct-a", "u3", "agent", utc("2026-09-30T16:00:00+00:00"), 1000)],
        overrides={"occurred_at": pa.timestamp("us")},
    )
    # November partition, sorts after October: its e7 wins the conflict; e1 is an exact duplicate
    b.events(
        root,
        "usage_events/month=2026-11/part-0.parquet",
        [
            ev("e1", "acct-a", "u1", "agent", utc("2026-10-31T16:00:00+00:00"), 100),
            ev("e3", "acct-a", "u1", "assistant", utc("2026-11-01T15:59:59+00:00"), 30),  # later today than now
            ev("e4", "acct-a", "u2", "agent", utc("2026-11-01T16:00:00+00:00"), 7),  # 11-02 local: month only
            ev("e7", "acct-a", "u2", "operator", utc("2026-11-01T02:00:00+00:00"), 20),
        ],
    )
    # bad files
    bad = root / "usage_events" / "month=2026-11"
    (bad / "notes.parquet").write_text("this is not parquet\n")
    good = (bad / "part-0.parquet").read_bytes()
    (bad / "truncated.parquet").write_bytes(good[: len(good) // 2])
    b.events(
        root,
        "usage_events/month=2026-11/no-tokens.parquet",
        [ev("x1", "acct-a", "u1", "agent", utc("2026-11-01T01:00:00+00:00"), 1)],
        drop=("tokens",),
    )
    b.events(
        root,
        "usage_events/month=2026-11/tokens-as-text.parquet",
        [ev("x2", "acct-a", "u1", "agent", utc("2026-11-01T01:00:00+00:00"), None)],
        overrides={"tokens": pa.string()},
    )

    b.transactions(
        root,
        "transactions/2026-10.parquet",
        [
            tx("t-bonus", "acct-a", "BONUS", 1000, utc("2026-10-01T00:00:00+00:00"), description="Sign-up"),
            tx("t-rech", "acct-a", "RECHARGE", 500, utc("2026-10-15T00:00:00+00:00"), "ALIPAY", "Top-up"),
            tx("o-bonus", "acct-over", "BONUS", 100, utc("2026-10-01T00:00:00+00:00")),
            tx("o-use", "acct-over", "CONSUME", -250, utc("2026-10-20T00:00:00+00:00")),
            # bad rows
            tx("bad-sign", "acct-a", "CONSUME", 5, utc("2026-10-20T00:00:00+00:00")),
            tx("bad-type", "acct-a", "GIFT", 5, utc("2026-10-20T00:00:00+00:00")),
            tx("bad-amount", "acct-a", "BONUS", None, utc("2026-10-20T00:00:00+00:00")),
        ],
    )
    b.transactions(
        root,
        "transactions/2026-11.parquet",
        [
            tx("t-rech", "acct-a", "RECHARGE", 500, utc("2026-10-15T00:00:00+00:00"), "ALIPAY", "Top-up"),  # dup
            tx("t-use", "acct-a", "CONSUME", -1212, utc("2026-11-01T01:00:00+00:00"), user_id="u1"),
            tx("t-ref", "acct-a", "REFUND", 20, utc("2026-11-01T01:00:00+00:00"), description="Refund"),
            tx("t-adj", "acct-a", "ADJUSTMENT", -8, utc("2026-11-01T01:30:00+00:00"), description="=1+1"),
        ],
    )
    return root


def settings_for(tmp: Path, data_dir: Path, **env: str) -> Settings:
    base = {
        "ANALYTICS_DATA_DIR": str(data_dir),
        "ANALYTICS_APP_DB": str(tmp / "app.duckdb"),
        "ANALYTICS_NOW": NOW,
        "ANALYTICS_TIMEZONE": "Asia/Shanghai",
    }
    base.update(env)
    return load_settings(base)


@pytest.fixture(scope="session")
def _edge_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The edge export written once, with its cache ingested once (app_exports.duckdb beside it)."""
    root = tmp_path_factory.mktemp("edge-template")
    with Store.open(settings_for(root, write_edge_export(root / "export"))):
        pass
    return root


@pytest.fixture
def edge_dir(tmp_path: Path, _edge_template: Path) -> Path:
    """A fresh copy of the edge export per test (tests may change it); copy2 keeps the files' times."""
    return Path(shutil.copytree(_edge_template / "export", tmp_path / "export"))


@pytest.fixture
def edge_store(tmp_path: Path, edge_dir: Path, _edge_template: Path) -> Store:
    """A store on the edge export. Its cache starts as a copy of the template's: the same files (path, size,
    time) are found unchanged, so the test skips an ingest (about 1.5 s each on a loaded 2-core machine).
    The app database starts empty."""
    shutil.copy2(_edge_template / "app_exports.duckdb", tmp_path / "app_exports.duckdb")
    store = Store.open(settings_for(tmp_path, edge_dir))
    yield store
    store.close()


def reopen(store: Store, **changes: object) -> Settings:
    return replace(store.settings, **changes)


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small generated sample exports (acct-001.. acct-004), shared read-only by the app tests."""
    from token_analytics.engine.sample import generate

    out = tmp_path_factory.mktemp("sample")
    generate(out, accounts=4, events=3000, seed=1, now=datetime.fromisoformat(SAMPLE_NOW))
    return out


def _is_open(store: Store) -> bool:
    try:
        store._con.execute("select 1")
    except duckdb.ConnectionException:
        return False
    return True


@pytest.fixture(scope="session", autouse=True)
def _track_opened_stores() -> Iterator[None]:
    real_open = Store.open.__func__

    def tracked(cls: type[Store], *args: object, **kwargs: object) -> Store:
        store = real_open(cls, *args, **kwargs)
        _opened.add(store)
        return store

    Store.open = classmethod(tracked)  # type: ignore[method-assign]
    yield
    Store.open = classmethod(real_open)  # type: ignore[method-assign]


@pytest.fixture(scope="module", autouse=True)
def _module_leaves_no_store_open(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the module whose tests leave a Store open or its service thread running (one idle thread each).

    Not after a failed test: a store left open by an assertion that failed mid-way is not news.
    """
    failed_before = request.session.testsfailed
    yield
    services = sum(thread.name == SERVICE_THREAD for thread in threading.enumerate())
    still_open = [str(store.settings.cache_db) for store in list(_opened) if _is_open(store)]
    for store in list(_opened):
        store.close()  # the next module starts clean, whatever this one left
    _opened.clear()
    if (services or still_open) and request.session.testsfailed == failed_before:
        pytest.fail(
            f"{request.module.__name__} left {len(still_open)} store(s) open and {services} service thread(s) "
            f"running: close each Store a test opens (`with Store.open(...)`); open stores: {still_open[:3]}"
        )


@pytest.fixture(autouse=True)
def _close_web_stores() -> Iterator[None]:
    """The stores the web layer opened for this test (AppTest pages, data.open_store) and their service threads."""
    yield
    data.close_stores()


# Names a test uses to draw the dashboard in AppTest (tests/apptest.py).
_PAGE_HELPERS = frozenset({"_app", "_sign_in", "_signed_in", "AppTest"})


def _draws_pages(code: object, module_globals: dict, depth: int = 3) -> bool:
    """Whether code (its nested functions or its module's helpers it calls, a few levels down) draws the dashboard."""
    names = getattr(code, "co_names", ())
    if not _PAGE_HELPERS.isdisjoint(names):
        return True
    if not depth:
        return False
    nested = [const for const in getattr(code, "co_consts", ()) if hasattr(const, "co_names")]
    helpers = [module_globals.get(name) for name in names]
    nested += [helper.__code__ for helper in helpers if callable(helper) and hasattr(helper, "__code__")]
    return any(_draws_pages(inner, module_globals, depth - 1) for inner in nested)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark AppTest page tests `pages`, so the inner loop can leave them out (`-m "... and not pages"`)."""
    for item in items:
        functions = [getattr(item, "function", None)]
        fixtures = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        functions += [definitions[-1].func for definitions in fixtures.values() if definitions]
        if any(
            hasattr(function, "__code__") and _draws_pages(function.__code__, function.__globals__)
            for function in functions
        ):
            item.add_marker(pytest.mark.pages)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[AppDB]:
    """A new app database file (every concern's tables), closed after the test."""
    app = open_app_db(tmp_path / "app.duckdb")
    yield app
    app.close()
