"""Ingest while serving: readers never see half an ingest, and the command line
works while another process (the dashboard) holds the DuckDB files."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path

from tests import builders as b
from tests.builders import ev, tx, utc
from tests.builders import run_command as cli
from tests.conftest import NOW, settings_for
from token_analytics import service
from token_analytics.engine.figures import analysis_figures
from token_analytics.engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
now = datetime.fromisoformat(NOW)
GENERATIONS = 6
READERS = 4


def write_generation(root: Path, g: int) -> None:
    """Generation g adds one event of 10**g tokens today and a recharge of g tokens."""
    b.events(root, f"usage_events/g{g:02d}.parquet", [ev(f"e{g}", "acct-a", "u1", "agent", utc(NOW), 10**g)])
    b.transactions(root, f"transactions/g{g:02d}.parquet", [tx(f"t{g}", "acct-a", "RECHARGE", g, utc(NOW))])


def expected(g: int) -> tuple[int, int, int, int]:
    """(daily tokens, hourly tokens, calls, balance) after generation g is ingested."""
    tokens = sum(10**i for i in range(g + 1))
    return tokens, tokens, g + 1, sum(range(g + 1))


def test_each_read_sees_one_generation(tmp_path: Path) -> None:
    root = tmp_path / "export"
    write_generation(root, 0)
    store = Store.open(settings_for(tmp_path, root))
    stop = threading.Event()
    seen: list[tuple[int, int, int, int]] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                with store.snapshot():
                    cur = store.cursor()
                    daily = cur.execute("select sum(tokens) from usage_daily where account_id = 'acct-a'").fetchall()
                    hourly = cur.execute("select sum(tokens) from usage_hourly where account_id = 'acct-a'").fetchall()
                    figures = analysis_figures(store, "acct-a", now, "saas").to_json()
                cards = figures["cards"]
                seen.append((daily[0][0], hourly[0][0], cards["service_calls"], cards["balance"]["tokens"]))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(READERS)]
    for thread in readers:
        thread.start()
    for g in range(1, GENERATIONS + 1):
        write_generation(root, g)
        assert store.ingest().rebuilt
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    allowed = {expected(g) for g in range(GENERATIONS + 1)}
    # every read is one whole generation: the rollups, the usage figures and the ledger agree
    assert seen and set(seen) <= allowed
    assert analysis_figures(store, "acct-a", now, "saas").cards.balance.tokens == expected(GENERATIONS)[3]
    store.close()


def test_command_line_asks_the_process_holding_the_files(tmp_path: Path) -> None:
    root = tmp_path / "export"
    write_generation(root, 0)
    settings = settings_for(tmp_path, root)
    env = {"ANALYTICS_DATA_DIR": str(root), "ANALYTICS_APP_DB": str(settings.app_db), "ANALYTICS_NOW": NOW}
    store = Store.open(settings)  # the "dashboard": holds both DuckDB files
    # no service yet: the command line cannot open the files and says so in one line
    refused = cli("report", "--account", "acct-a", env=env)
    assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0
    assert "in use" in refused.stderr
    answering = service.start(store)
    assert answering is not None
    try:
        report = cli("report", "--account", "acct-a", env=env)
        assert report.returncode == 0, report.stderr
        assert json.loads(report.stdout) == analysis_figures(store, "acct-a", now, "saas").to_json()
        write_generation(root, 1)
        ingest = cli("ingest", env=env)
        assert ingest.returncode == 0, ingest.stderr
        assert ingest.stdout.startswith("read 2 files (2 rows)")
        assert analysis_figures(store, "acct-a", now, "saas").to_json()["cards"]["today"]["tokens"] == 11
    finally:
        answering.close()  # a service left running is an idle thread for the rest of the run
        store.close()
