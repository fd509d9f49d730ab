"""Page benchmark: end-to-end latency as a person feels it, and the server's share of it.

    python benchmarks/bench_pages.py [--events 1000000] [--accounts 200] [--runs 3] [--contention N]
                                     [--data-dir DIR] [--baseline DIR]

One server is started the way `make run` does (`streamlit run serve.py`, headless, a free port) on
a generated export (kept in benchmarks/.data/pages-<events>-<accounts>/). Then, per role (admin,
manager, analyst), in Debian's chromium:

* sign-in: from the click on "Sign in" to the last element drawn on /analysis;
* page switch: from the click on a sidebar link to the last element drawn, for every page the
  role may open;
* shared link: a cold navigation to an /explore view given by its URL, to the last element drawn.

"The last element drawn" is the time of the page's last DOM mutation once Streamlit's script has
been idle for 400 ms with no skeleton left (a MutationObserver installed before the app's own
scripts run). The browser's figure includes the browser's own work on 2 shared cores.

The server's part of the same reruns is measured without the browser: a websocket client speaking
Streamlit's protocol (as benchmarks/bench_load.py) sends the rerun a browser sends for a page (and
for /explore, each view's query string) and times it until `script_finished`; the first run of a
session is reported apart from the warm reruns that follow (a widget change is a warm rerun).

`--trace N` splits N sign-ins (and the page switches after them) into where the time goes, from
Chromium's own records (DevTools protocol): the click to the request on the websocket, each script
run on the server (request to `script_finished`), the browser's drawing after the last run (to the
last chart drawn and to the last element drawn), the main thread's script, style/layout and task
time, and the bytes the page fetched and received. Each sign-in uses a new browser context (cold
cache, as a new person), after one warm-up sign-in that opens the data for the server.

`--explore` measures /explore only, per role (manager and analyst; `--roles` to choose): the first switch
to /explore after sign-in (the browser has not drawn an /explore chart yet in that page load), each of
WIDGET_CHANGES, and a shared link; with `--trace N`, N rounds of the widget changes split by the same
DevTools records instead (the chart's last change counted as "drawn" for the chart).

`--baseline DIR` runs the same measures against a second checkout (e.g. `git worktree add
/tmp/base <commit>`) in the same run (one server after the other), and prints the ratio current / baseline: the
before/after of a change on the same machine at the same load. The load average is printed beside
every figure. It is not a test: it prints figures; exit 1 only when the benchmark itself fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_load import LAUNCH_ARGS, load_average  # noqa: E402
from tests.e2e.support import (  # noqa: E402
    CHROMIUM,
    NOW,
    PASSWORDS,
    START_TIMEOUT_S,
    Server,
    _free_port,
    _healthy,
    clean_env,
    run_cli,
    sign_in_form,
    stop_server,
)
from token_analytics.strings import t  # noqa: E402

DATA = ROOT / "benchmarks" / ".data"
ROLES = ("admin", "manager", "analyst")
PAGES = {  # url path -> the page name a browser sends in its rerun
    "analysis": "analysis",
    "token-history": "token_history",
    "recharge": "recharge",
    "subscription": "subscription",
    "explore": "explore",
    "admin": "admin",
}
# /explore views by URL: what an analyst switches between (a widget change is the same rerun).
EXPLORE_VIEWS = (
    "",
    "granularity=hour",
    "metric=calls",
    "group=member&top=10",
    "group=model",
    "period=this_year&granularity=week",
)
# /explore widget changes as a person makes them, in this order (label, option): with the sections drawn in
# st.fragment a change reruns only its section, which the websocket's full reruns above do not show.
WIDGET_CHANGES = (
    ("Period", "Last 7 complete days"),
    ("Granularity", "Hour"),
    ("Metric", "Calls"),
    ("Group by", "Member"),
    ("Period", "This year (so far)"),
)
QUIET_MS = 400
WIDGET_WAIT_MS = 30_000  # a control the page does not offer is skipped after this, not waited for
TYPING_MS = 120  # a key every 120 ms: a quick typist; "manager" and its password take about 2.3 s

# Installed before any of the app's scripts: the time of the last change to the page.
OBSERVE = """
window.__lastMutation = 0;
new MutationObserver(() => { window.__lastMutation = performance.now(); })
    .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""

# True (with the last mutation's time) once the script is idle, connected, without skeletons, for QUIET_MS.
DRAWN = """([quiet, since]) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const idle = app?.dataset.testScriptState === 'notRunning' && app?.dataset.testConnectionState === 'CONNECTED';
    const busy = !idle || document.querySelectorAll('[data-testid="stSkeleton"]').length > 0;
    const now = performance.now();
    const errors = document.querySelectorAll('[data-testid="stException"]').length;
    if (errors > 0) { return {error: 'the page shows an error'}; }
    if (busy || window.__benchBusyAt === undefined) { window.__benchBusyAt = now; return false; }
    if (now - window.__benchBusyAt < quiet) { return false; }
    return {ms: Math.max(window.__lastMutation, window.__benchBusyAt - quiet) - since};
}"""


@dataclass
class Checkout:
    name: str
    root: Path


@dataclass
class Results:
    """Measure name -> checkout name -> milliseconds, each with the load average when taken."""

    rows: dict[str, dict[str, list[tuple[float, str]]]]

    def add(self, measure: str, checkout: str, ms: float) -> None:
        self.rows.setdefault(measure, {}).setdefault(checkout, []).append((ms, load_average().split()[0]))


def start(checkout: Checkout, data_dir: Path, tmp: Path) -> Server:
    """`streamlit run serve.py` from a checkout, with the tests' flags; its own app and cache files."""
    work = tmp / checkout.name
    work.mkdir(parents=True, exist_ok=True)
    env = clean_env() | {
        "ANALYTICS_MODE": "saas",
        "ANALYTICS_DATA_DIR": str(data_dir),
        "ANALYTICS_APP_DB": str(work / "app.duckdb"),
        "ANALYTICS_NOW": NOW,
        "ANALYTICS_COOKIE_KEY": secrets.token_hex(32),
    }
    port = _free_port()
    log = work / "streamlit.log"
    command = [
        sys.executable, "-m", "streamlit", "run", "serve.py",
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with log.open("wb") as handle:
        process = subprocess.Popen(command, cwd=checkout.root, env=env, stdout=handle, stderr=subprocess.STDOUT)
    server = Server(mode="saas", url=f"http://127.0.0.1:{port}", process=process, log=log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        if _healthy(server.url):
            return server
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"the server of {checkout.name} did not start:\n{server.log_tail()}")


def drawn_ms(page: Any, since: float, timeout_ms: int = 180_000) -> float:
    page.evaluate("() => { delete window.__benchBusyAt; }")
    handle = page.wait_for_function(DRAWN, arg=[QUIET_MS, since], polling=25, timeout=timeout_ms)
    value = handle.json_value()
    if "error" in value:
        raise RuntimeError(f"{page.url}: {value['error']}")
    return float(value["ms"])


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium through Playwright, every expectation waiting up to 3 minutes (a 10M first load)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=180_000)
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def browser_measures(server: Server, checkout: str, results: Results, runs: int) -> dict[str, dict[str, Any]]:
    """Sign-in, page switches and shared /explore links per role; returns each role's cookies and pages."""
    from playwright.sync_api import expect

    cookies: dict[str, dict[str, Any]] = {}
    with chromium() as browser:
        for role in ROLES:
            for run in range(runs):
                context, page, signing_in = signed_in_page(browser, server, role, OBSERVE)
                results.add(f"sign-in -> /analysis drawn [{role}]", checkout, signing_in)
                nav = page.locator('[data-testid="stSidebarNav"]')
                opened = []
                for path in PAGES:
                    link = nav.locator(f'a[href$="/{path}"]')
                    if path == "analysis" or link.count() == 0:
                        continue
                    since = page.evaluate("() => performance.now()")
                    link.first.click()
                    expect(page).to_have_url(re.compile(rf"/{re.escape(path)}(\?.*)?$"))
                    results.add(f"page switch -> /{path} drawn [{role}]", checkout, drawn_ms(page, since))
                    opened.append(path)
                if run == 0:
                    cookies[role] = {"cookies": context.cookies(), "pages": ["analysis"] + opened}
                if "explore" in opened:
                    widget_changes(page, server, checkout, role, results)
                for view in EXPLORE_VIEWS[1:2]:
                    page.goto(f"{server.url}/explore?{view}")
                    results.add(f"shared /explore link drawn [{role}]", checkout, drawn_ms(page, 0.0))
                context.close()
    return cookies


def fill_then_click(page: Any, role: str) -> float:
    """Fill the sign-in form, then click "Sign in": the page's clock at the click (a person's wait starts there)."""
    from playwright.sync_api import expect

    form = sign_in_form(page)
    expect(form).to_be_visible()
    # typed as a person types (the form is shown before the rest of its page has loaded)
    form.get_by_role("textbox", name=t("login.username"), exact=True).press_sequentially(role, delay=TYPING_MS)
    form.get_by_role("textbox", name=t("login.password"), exact=True).press_sequentially(
        PASSWORDS[role], delay=TYPING_MS
    )
    button = form.get_by_role("button", name=t("login.submit"))
    button.wait_for()
    since = page.evaluate("() => performance.now()")
    button.click()
    return float(since)


def widget_changes(page: Any, server: Server, checkout: str, role: str, results: Results) -> None:
    """/explore opened afresh, then each of WIDGET_CHANGES: from the click on the option to the last element drawn."""
    from playwright.sync_api import TimeoutError as TimeoutError_

    page.goto(f"{server.url}/explore")
    drawn_ms(page, 0.0)
    main = page.locator('[data-testid="stMain"]')
    for label, option in WIDGET_CHANGES:
        try:
            main.get_by_role("combobox", name=label, exact=True).click(no_wait_after=True, timeout=WIDGET_WAIT_MS)
            choice = page.get_by_role("option", name=option, exact=True)
            choice.wait_for(timeout=WIDGET_WAIT_MS)
        except TimeoutError_:
            # an older checkout may name a control or an option otherwise: that change is not measured there
            print(f"{checkout}: no {label!r} -> {option!r} on /explore [{role}]; not measured", flush=True)
            page.keyboard.press("Escape")
            continue
        since = page.evaluate("() => performance.now()")
        choice.click(no_wait_after=True)
        results.add(f"explore widget change: {label} -> {option} [{role}]", checkout, drawn_ms(page, since))


# A chart is drawn once its surface exists (Plotly's SVG, Vega's canvas or SVG); the time of the last one.
CHARTS_OBSERVE = """
window.__chartsAt = 0;
new MutationObserver(() => {
    const charts = document.querySelectorAll('[data-testid="stPlotlyChart"], [data-testid="stVegaLiteChart"]');
    const drawn = Array.from(charts).filter((chart) => chart.querySelector('.main-svg, .marks')).length;
    if (drawn > (window.__chartsDrawn || 0)) { window.__chartsDrawn = drawn; window.__chartsAt = performance.now(); }
}).observe(document, {subtree: true, childList: true});
"""
METRICS = ("ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "TaskDuration")


class Trace:
    """Chromium's records of one page (DevTools protocol): websocket frames, fetched files, main-thread time."""

    def __init__(self, context: Any, page: Any) -> None:
        self.page = page
        self.cdp = context.new_cdp_session(page)
        self.cdp.send("Network.enable")
        self.cdp.send("Performance.enable")
        self.frames: list[tuple[str, float, str]] = []  # (sent|received, monotonic s, base64 payload)
        self.fetched: list[tuple[float, int]] = []  # (monotonic s, bytes)
        self.cdp.on("Network.webSocketFrameSent", lambda e: self._frame("sent", e))
        self.cdp.on("Network.webSocketFrameReceived", lambda e: self._frame("received", e))
        self.cdp.on("Network.loadingFinished", lambda e: self.fetched.append((e["timestamp"], e["encodedDataLength"])))

    def _frame(self, direction: str, event: dict[str, Any]) -> None:
        self.frames.append((direction, event["timestamp"], event["response"]["payloadData"]))

    def metrics(self) -> dict[str, float]:
        return {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}

    def mark(self) -> tuple[float, float, dict[str, float]]:
        """(the page's clock in ms, the protocol's monotonic clock in s, the main-thread metrics), read together."""
        before = self.metrics()
        now = float(self.page.evaluate("() => performance.now()"))
        after = self.metrics()
        return now, (before["Timestamp"] + after["Timestamp"]) / 2, after

    def split(self, start: tuple[float, float, dict[str, float]], drawn_at_ms: float) -> dict[str, float]:
        """Where the time went from `start` (a mark taken just before the click) to `drawn_at_ms` (page clock)."""
        import base64

        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        page_ms, mono, before = start
        offset = page_ms - mono * 1000  # page clock = protocol clock + offset
        after = self.metrics()
        charts_at = float(self.page.evaluate("() => window.__chartsAt || 0"))
        sent = [at for d, at, _ in self.frames if d == "sent" and at >= mono]
        runs, run_ms, finished_at, received = 0, 0.0, None, 0
        started = sent[0] if sent else mono
        for direction, at, payload in self.frames:
            if direction != "received" or at < mono:
                continue
            raw = base64.b64decode(payload)
            received += len(raw)
            message = ForwardMsg()
            message.ParseFromString(raw)
            kind = message.WhichOneof("type")
            if kind == "new_session":
                started = at if finished_at is not None else started
            elif kind == "script_finished":
                runs += 1
                run_ms += (at - started) * 1000
                finished_at = at
        end = finished_at if finished_at is not None else mono
        return {
            "click -> request on the websocket": ((sent[0] if sent else mono) - mono) * 1000,
            "script runs (count)": runs,
            "server: request -> last script finished": (end - (sent[0] if sent else mono)) * 1000,
            "server: time inside script runs": run_ms,
            "browser: last script finished -> last chart drawn": max(0.0, charts_at - offset - end * 1000)
            if charts_at > page_ms
            else 0.0,
            "browser: last script finished -> last element drawn": drawn_at_ms - (end * 1000 + offset),
            "click -> last element drawn": drawn_at_ms - page_ms,
            "main thread: script": (after["ScriptDuration"] - before["ScriptDuration"]) * 1000,
            "main thread: style and layout": (
                after["RecalcStyleDuration"]
                + after["LayoutDuration"]
                - before["RecalcStyleDuration"]
                - before["LayoutDuration"]
            )
            * 1000,
            "main thread: all tasks": (after["TaskDuration"] - before["TaskDuration"]) * 1000,
            "websocket bytes received": received,
            "files fetched after the click (KB)": sum(n for at, n in self.fetched if at >= mono) / 1024,
        }


def traced_switch(page: Any, trace: Any, path: str, label: str, checkout: str, results: Results, keep: bool) -> None:
    """A click on the sidebar's link to /`path`, split by Trace to the last element drawn (kept when `keep`)."""
    from playwright.sync_api import expect

    start = trace.mark()
    page.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]').first.click()
    expect(page).to_have_url(re.compile(rf"/{re.escape(path)}(\?.*)?$"))
    drawn = drawn_ms(page, start[0]) + start[0]
    if keep:
        for name, value in trace.split(start, drawn).items():
            results.add(f"{label}: {name}", checkout, value)


def trace_measures(server: Server, checkout: str, results: Results, runs: int, role: str = "manager") -> None:
    """`runs` sign-ins of `role` and a switch to /token-history after each, split by Trace (after one warm-up)."""
    from playwright.sync_api import expect

    with chromium() as browser:
        for run in range(runs + 1):
            context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US")
            context.add_init_script(OBSERVE + CHARTS_OBSERVE)
            page = context.new_page()
            page.set_default_timeout(180_000)
            trace = Trace(context, page)
            page.goto(server.url + "/")
            expect(sign_in_form(page)).to_be_visible()
            start = trace.mark()
            since = fill_then_click(page, role)
            start = (since, start[1] + (since - start[0]) / 1000, start[2])  # the mark moved to the click
            expect(page).to_have_url(re.compile(r"/analysis(\?.*)?$"))
            drawn = drawn_ms(page, since) + since
            if run > 0:  # the first sign-in of a server also opens the data
                for name, value in trace.split(start, drawn).items():
                    results.add(f"trace sign-in -> /analysis: {name}", checkout, value)
            traced_switch(page, trace, "token-history", "trace switch -> /token-history", checkout, results, run > 0)
            context.close()


# --- /explore alone (`--explore`) ----------------------------------------------------------------------------

EXPLORE_ROLES = ("manager", "analyst")
# The time of the last change inside a chart (a redraw of an existing chart adds no new chart element).
CHART_MUTATIONS = """
window.__chartsAt = 0;
new MutationObserver((records) => {
    for (const record of records) {
        const node = record.target.nodeType === 1 ? record.target : record.target.parentElement;
        if (node?.closest?.('[data-testid="stPlotlyChart"], [data-testid="stVegaLiteChart"]')) {
            window.__chartsAt = performance.now();
            return;
        }
    }
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""


def signed_in_page(browser: Any, server: Server, role: str, script: str) -> tuple[Any, Any, float]:
    """A new browser context (cold cache) signed in as `role`, on a drawn /analysis: (context, page, the ms
    from the click on "Sign in" to the last element drawn)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US")
    context.add_init_script(script)
    page = context.new_page()
    page.set_default_timeout(180_000)
    page.goto(server.url + "/")
    since = fill_then_click(page, role)
    expect(page).to_have_url(re.compile(r"/analysis(\?.*)?$"))
    return context, page, drawn_ms(page, since)


def explore_browser_measures(
    server: Server, checkout: str, results: Results, runs: int, roles: tuple[str, ...]
) -> None:
    """Per role and run: first switch to /explore, each widget change, a shared link (a new context each run)."""
    from playwright.sync_api import expect

    with chromium() as browser:
        warm, _, _ = signed_in_page(browser, server, roles[0], OBSERVE)  # the first sign-in opens the data
        warm.close()
        for _ in range(runs):
            for role in roles:
                context, page, _ = signed_in_page(browser, server, role, OBSERVE)
                since = page.evaluate("() => performance.now()")
                page.locator('[data-testid="stSidebarNav"] a[href$="/explore"]').first.click()
                expect(page).to_have_url(re.compile(r"/explore(\?.*)?$"))
                results.add(f"first switch -> /explore drawn [{role}]", checkout, drawn_ms(page, since))
                widget_changes(page, server, checkout, role, results)
                page.goto(f"{server.url}/explore?{EXPLORE_VIEWS[1]}")
                results.add(f"shared /explore link drawn [{role}]", checkout, drawn_ms(page, 0.0))
                context.close()


def explore_trace_measures(server: Server, checkout: str, results: Results, runs: int, role: str = "manager") -> None:
    """`runs` rounds of WIDGET_CHANGES on a drawn /explore, each change split by Trace (after one warm-up round)."""

    with chromium() as browser:
        for run in range(runs + 1):
            context, page, _ = signed_in_page(browser, server, role, OBSERVE + CHART_MUTATIONS)
            trace = Trace(context, page)
            traced_switch(page, trace, "explore", "trace first switch -> /explore", checkout, results, run > 0)
            main = page.locator('[data-testid="stMain"]')
            for label, option in WIDGET_CHANGES:
                main.get_by_role("combobox", name=label, exact=True).click(no_wait_after=True)
                choice = page.get_by_role("option", name=option, exact=True)
                choice.wait_for()
                page.evaluate("() => { window.__chartsAt = 0; }")
                start = trace.mark()
                choice.click(no_wait_after=True)
                drawn = drawn_ms(page, start[0]) + start[0]
                if run > 0:  # the first round warms the server's caches and the browser's files
                    for name, value in trace.split(start, drawn).items():
                        results.add(f"trace {label} -> {option}: {name}", checkout, value)
            context.close()


def rerun_message(url: str, page_name: str, query: str) -> bytes:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    message = BackMsg()
    message.rerun_script.page_name = page_name
    message.rerun_script.query_string = query
    context = message.rerun_script.context_info
    context.timezone, context.timezone_offset, context.locale = "UTC", 0, "en-US"
    context.url, context.color_scheme = f"{url}/{page_name}{'?' + query if query else ''}", "light"
    return message.SerializeToString()


async def server_runs(server: Server, cookies: list[dict[str, Any]], reruns: list[tuple[str, str]]) -> list[float]:
    """One websocket session: each (page name, query) rerun in turn, ms from request to script_finished."""
    import websockets
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    url = server.url.replace("http://", "ws://", 1) + "/_stcore/stream"
    header = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
    times = []
    async with websockets.connect(
        url,
        subprotocols=[websockets.Subprotocol("streamlit")],
        additional_headers={"Cookie": header, "Origin": server.url},
        max_size=None,
    ) as connection:
        for page_name, query in reruns:
            started = time.perf_counter()
            await connection.send(rerun_message(server.url, page_name, query))
            async with asyncio.timeout(180):
                while True:
                    message = ForwardMsg()
                    message.ParseFromString(await connection.recv())
                    if message.WhichOneof("type") == "script_finished":
                        if message.script_finished in (
                            ForwardMsg.FINISHED_EARLY_FOR_RERUN,
                            ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
                        ):
                            continue  # the page asked for a rerun (st.rerun, query params): that run is part of it
                        if message.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                            raise RuntimeError(f"{page_name}?{query} ended with status {message.script_finished}")
                        break
            times.append((time.perf_counter() - started) * 1000)
    return times


def server_measures(server: Server, checkout: str, cookies: dict[str, Any], results: Results, runs: int) -> None:
    for role, seen in cookies.items():
        jar = seen["cookies"]
        for page_name in (PAGES[path] for path in seen["pages"]):  # the pages the role's sidebar offers
            for _ in range(runs):
                first, *warm = asyncio.run(server_runs(server, jar, [(page_name, "")] * 3))
                results.add(f"server run, new session: {page_name} [{role}]", checkout, first)
                results.add(f"server rerun, warm: {page_name} [{role}]", checkout, statistics.median(warm))
        for _ in range(runs):
            times = asyncio.run(server_runs(server, jar, [("explore", view) for view in EXPLORE_VIEWS]))
            for view, ms in zip(EXPLORE_VIEWS[1:], times[1:], strict=True):
                results.add(f"server rerun, explore view change: {view} [{role}]", checkout, ms)


# The heaviest views a link may ask for: 370 days by day and member (the most bars allowed), and ten years by
# day, which the page draws by month with a notice.
HEAVY_VIEWS = (
    "period=custom&start=2025-11-25&end=2026-11-29&granularity=day&metric=tokens&group=member&top=10",
    "period=custom&start=2016-11-29&end=2026-11-29&granularity=day&metric=tokens&group=member&top=10",
)


async def contention(
    server: Server, jar: list[dict[str, Any]], heavy_jar: list[dict[str, Any]], heavy_sessions: int, samples: int
) -> dict[str, Any]:
    """A manager's /analysis reruns alone, then while another user's sessions load the heaviest views."""
    alone = (await server_runs(server, jar, [("analysis", "")] * (samples + 1)))[1:]
    stop = asyncio.Event()
    heavy: list[float] = []

    async def hammer(view: str) -> None:
        while not stop.is_set():
            heavy.extend(await server_runs(server, heavy_jar, [("explore", view)] * 2))

    tasks = [asyncio.create_task(hammer(HEAVY_VIEWS[i % len(HEAVY_VIEWS)])) for i in range(heavy_sessions)]
    await asyncio.sleep(2.0)  # the heavy sessions are running before the measured ones start
    during = (await server_runs(server, jar, [("analysis", "")] * (samples + 1)))[1:]
    stop.set()
    await asyncio.gather(*tasks)
    return {"alone": alone, "during": during, "heavy": heavy}


def sample(events: int, accounts: int, data_dir: Path | None) -> Path:
    if data_dir is not None:
        return data_dir
    out = DATA / f"pages-{events}-{accounts}"
    if not (out / "usage_events").is_dir():
        started = time.perf_counter()
        run_cli(
            ["generate", "--out", str(out), "--accounts", str(accounts), "--events", str(events)]
            + ["--seed", "20261129", "--now", NOW],
            clean_env(),
        )
        print(f"sample: {events:,} events, {accounts} accounts ({time.perf_counter() - started:.1f} s)")
    return out


def report(results: Results, checkouts: list[Checkout]) -> None:
    names = [c.name for c in checkouts]
    head = f"{'measure':<80} " + " ".join(f"{n + ' ms (load)':>22}" for n in names)
    print(head + ("   ratio" if len(names) == 2 else ""))
    for measure, by in results.rows.items():
        cells, medians = [], []
        for name in names:
            values = by.get(name, [])
            if not values:
                cells.append(f"{'-':>22}")
                continue
            median = statistics.median(v for v, _ in values)
            medians.append(median)
            loads = sorted({load for _, load in values})
            cells.append(f"{median:>10.0f} ({loads[0]}-{loads[-1]})".rjust(22))
        ratio = f"   {medians[0] / medians[1]:.2f}x" if len(medians) == 2 and medians[1] else ""
        print(f"{measure:<80} " + " ".join(cells) + ratio)


def measure(checkout: Checkout, data_dir: Path, tmp: Path, results: Results, args: argparse.Namespace) -> None:
    """Every measure the options ask for, on one server of `checkout`."""
    server = start(checkout, data_dir, tmp)
    try:
        if args.explore:
            roles = tuple(args.roles.split(",")) if args.roles else EXPLORE_ROLES
            if args.trace:
                explore_trace_measures(server, checkout.name, results, args.trace, roles[0])
            else:
                explore_browser_measures(server, checkout.name, results, args.runs, roles)
            return
        if args.trace:
            trace_measures(server, checkout.name, results, args.trace)
            return
        started = time.perf_counter()
        cookies = browser_measures(server, checkout.name, results, 1 if args.no_browser else args.runs)
        print(f"{checkout.name}: browser measures done ({time.perf_counter() - started:.0f} s)")
        server_measures(server, checkout.name, cookies, results, args.runs)
        if args.contention:
            seen = asyncio.run(
                contention(server, cookies["manager"]["cookies"], cookies["analyst"]["cookies"], args.contention, 5)
            )
            for label, key in (("alone", "alone"), (f"while {args.contention} heavy views run", "during")):
                for ms in seen[key]:
                    results.add(f"server rerun: analysis [manager] {label}", checkout.name, ms)
            for ms in seen["heavy"]:
                results.add("server rerun: heaviest allowed /explore views [analyst]", checkout.name, ms)
    finally:
        stop_server(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the generated export")
    parser.add_argument("--accounts", type=int, default=200, help="accounts in the generated export")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of every measure (median printed)")
    parser.add_argument("--data-dir", type=Path, help="an existing export instead of a generated one")
    parser.add_argument("--baseline", type=Path, help="a second checkout measured in the same run")
    parser.add_argument("--no-browser", action="store_true", help="server times only (sign-in through chromium once)")
    parser.add_argument(
        "--trace", type=int, default=0, metavar="N", help="only: N sign-ins split into where the time goes"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="with --baseline: alternate the checkouts this many times"
    )
    parser.add_argument("--explore", action="store_true", help="only /explore: first switch, widget changes, link")
    parser.add_argument("--roles", help="with --explore: comma-separated roles (default manager,analyst)")
    parser.add_argument(
        "--contention",
        type=int,
        default=0,
        metavar="N",
        help="also: a manager's /analysis alone and while N sessions load the heaviest allowed /explore views",
    )
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).is_file():
        print(f"{CHROMIUM} is missing: install Debian's chromium (make chromium) or set E2E_CHROMIUM.", file=sys.stderr)
        return 1
    data_dir = sample(args.events, args.accounts, args.data_dir)
    checkouts = [Checkout("current", ROOT)] + ([Checkout("baseline", args.baseline.resolve())] if args.baseline else [])
    results = Results(rows={})
    import tempfile

    print(f"load average before: {load_average()} on {os.cpu_count()} cores; {args.runs} runs per measure")
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        # one server at a time: the other checkout's server would share the cores; rounds alternate them,
        # so a change in the machine's load falls on both
        for round_ in range(args.rounds):
            for checkout in checkouts:
                measure(checkout, data_dir, Path(tmp) / str(round_), results, args)
    print()
    report(results, checkouts)
    print(f"\nload average after: {load_average()}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"bench_pages failed: {exc}", file=sys.stderr)
        sys.exit(1)
