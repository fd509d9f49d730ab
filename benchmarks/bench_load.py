"""Load benchmark: concurrent signed-in sessions loading /analysis against one server.

    python benchmarks/bench_load.py [--sessions 30] [--client ws|browser] [--events 200000] [--accounts 10]
                                    [--data-dir DIR]

One server is started the way `make run` does (`streamlit run serve.py`, headless, usage stats
off, a free port; the same start as the browser tests, tests/e2e/support.py) on a generated
sample. Every demo user signs in once through the sign-in form in Debian's chromium; each
session then holds one of those sign-in cookies and is a Streamlit session of its own on the
server. The sessions open /analysis at the same moment, as one of two clients:

* `ws` (default): a websocket client per session speaking Streamlit's protocol, as the browser
  does: it sends the browser's `rerun_script` message for the page and reads the answer until
  the script has finished. Time to the last chart = when the sixth chart's message arrived.
  The clients cost almost nothing, so the 2 cores go to the server: what is measured is the
  server under 30 sessions, without drawing.
* `browser`: a Playwright context per session in one chromium. Timing is read in the browser
  (`performance.now()` from the navigation's start) when the sixth chart has its SVG and when
  the page is complete. 30 chromium renderers drawing charts need far more CPU than the server
  on 2 cores, so this measures the machine's browsers more than the server (docs/BENCHMARK.md).

Server memory is the streamlit process's VmRSS from /proc, sampled every 50 ms. It is not a
test: a missed target is printed, not an error; the exit status is 1 only when the benchmark
itself fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' server start and sign-in helpers

from tests.e2e.support import (  # noqa: E402
    CHROMIUM,
    NOW,
    PASSWORDS,
    Sample,
    Server,
    clean_env,
    run_cli,
    sign_in,
    start_server,
    stop_server,
)

# /analysis draws three sparklines, four comparison charts and two service charts (app_pages/analysis.py):
# Vega-Lite since the page-speed work, Plotly before it (either counts, so an older checkout can be measured).
CHARTS = 9
CHART_ELEMENTS = frozenset({"vega_lite_chart", "plotly_chart"})
# A chart is drawn once its surface exists: Plotly's SVG, Vega's canvas or SVG (class "marks").
DRAWN_CHARTS_JS = """Array.from(
        document.querySelectorAll('[data-testid="stPlotlyChart"], [data-testid="stVegaLiteChart"]')
    ).filter((chart) => chart.querySelector('.main-svg, .marks')).length"""
MEMORY_TARGET = 1.5  # the server's RSS after the sessions close, against the warm baseline
LAUNCH_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Many pages at once: none of them counts as a background tab (timers and drawing kept at full speed).
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]

# Evaluated in the page every 25 ms until true. Records, once each, when the last chart got its
# SVG and when the page was complete: every chart drawn, no skeleton left, the script finished
# and connected, no error box. performance.now() counts from the navigation's start.
PAGE_DONE = (
    """(charts) => {
    const drawn = """
    + DRAWN_CHARTS_JS
    + """;
    if (drawn >= charts && window.__drawnAt === undefined) { window.__drawnAt = performance.now(); }
    const app = document.querySelector('[data-testid="stApp"]');
    const idle = app?.dataset.testScriptState === 'notRunning' && app?.dataset.testConnectionState === 'CONNECTED';
    const skeletons = document.querySelectorAll('[data-testid="stSkeleton"]').length;
    const errors = document.querySelectorAll('[data-testid="stException"]').length;
    if (errors > 0) { return {error: 'the page shows an error'}; }
    if (drawn >= charts && idle && skeletons === 0) {
        return {drawn: window.__drawnAt, complete: performance.now()};
    }
    return false;
}"""
)


PAGE_STATE = (
    """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const drawn = """
    + DRAWN_CHARTS_JS
    + """;
    return `script ${app?.dataset.testScriptState}, ${app?.dataset.testConnectionState}, ${drawn} charts drawn`;
}"""
)


def rerun_message(url: str) -> bytes:
    """The BackMsg a browser sends to run /analysis (captured from chromium: page name and context, no widgets)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    message = BackMsg()
    message.rerun_script.page_name = "analysis"
    context = message.rerun_script.context_info
    context.timezone, context.timezone_offset, context.locale = "UTC", 0, "en-US"
    context.url, context.color_scheme = f"{url}/analysis", "light"
    return message.SerializeToString()


def read_page(messages: list[tuple[float, bytes]]) -> dict[str, Any]:
    """From the ForwardMsgs of one run (seconds since the request, bytes): when the last chart and the end came."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    charts, drawn = 0, None
    for at, raw in messages:
        message = ForwardMsg()
        message.ParseFromString(raw)
        kind = message.WhichOneof("type")
        if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            element = message.delta.new_element.WhichOneof("type")
            if element == "exception":
                return {"error": f"the page shows an error: {message.delta.new_element.exception.message}"}
            if element in CHART_ELEMENTS:
                charts += 1
                drawn = at if charts == CHARTS else drawn
        elif kind == "script_finished":
            if message.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                return {"error": f"the script ended with status {message.script_finished}"}
            if drawn is None:
                return {"error": f"the script finished with {charts} of {CHARTS} charts"}
            return {"drawn": drawn * 1000, "complete": at * 1000}
    return {"error": f"the connection closed before the script finished ({charts} charts)"}


async def load_over_websockets(
    server: Server, states: list[dict[str, Any]], sessions: int, timeout_s: float
) -> list[dict[str, Any]]:
    """Open /analysis in `sessions` websocket sessions at once; per session its times in ms, or the error."""
    import websockets

    url = server.url.replace("http://", "ws://", 1) + "/_stcore/stream"
    request = rerun_message(server.url)
    connections = []
    for index in range(sessions):  # connect before the clock: only the page runs go together
        cookies = "; ".join(f"{c['name']}={c['value']}" for c in states[index % len(states)]["cookies"])
        connections.append(
            await websockets.connect(
                url,
                subprotocols=[websockets.Subprotocol("streamlit")],
                additional_headers={"Cookie": cookies, "Origin": server.url},
                max_size=None,
                open_timeout=timeout_s,
            )
        )

    async def one(connection: Any) -> dict[str, Any]:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        messages: list[tuple[float, bytes]] = []
        started = time.perf_counter()
        try:
            await connection.send(request)
            async with asyncio.timeout(timeout_s):
                while True:
                    raw = await connection.recv()
                    messages.append((time.perf_counter() - started, raw))
                    message = ForwardMsg()
                    message.ParseFromString(raw)
                    if message.WhichOneof("type") == "script_finished":
                        break
        except Exception as exc:  # one failed session is a result, not the end of the run
            return {"error": f"{type(exc).__name__}: {exc}"}
        return read_page(messages)

    try:
        return list(await asyncio.gather(*(one(connection) for connection in connections)))
    finally:
        for connection in connections:
            await connection.close()


def rss_mb(pid: int) -> float:
    """Resident set of a process in MB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..1) of a non-empty list: p95 of 30 values is the 29th smallest."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil without floats drifting
    return ordered[int(rank) - 1]


@dataclass
class MemorySampler:
    """VmRSS of one process every `every_s` seconds on a thread; peak since the last reset."""

    pid: int
    every_s: float = 0.05
    peak: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_mb(self.pid))
            except (OSError, RuntimeError):
                return  # the server has gone
            self._stop.wait(self.every_s)

    def reset(self) -> None:
        self.peak = rss_mb(self.pid)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


def settled_rss(pid: int, seconds: float) -> float:
    """The server's RSS after `seconds` of quiet: the least of the last second (one late allocation does not count)."""
    time.sleep(max(0.0, seconds - 1.0))
    samples = []
    for _ in range(10):
        samples.append(rss_mb(pid))
        time.sleep(0.1)
    return min(samples)


def signed_in_states(server: Server, users: list[str]) -> list[dict[str, Any]]:
    """Sign each demo user in once through the form (sync Playwright); their cookies as storage states."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=120_000)  # the first page view also ingests the export
    states = []
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            for user in users:
                context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US")
                page = context.new_page()
                page.set_default_timeout(120_000)
                sign_in(page, server, user)
                states.append(context.storage_state())
                context.close()
        finally:
            browser.close()
    return states


async def load_pages(server: Server, states: list[dict[str, Any]], sessions: int, timeout_ms: int) -> list[Any]:
    """Open /analysis in `sessions` new contexts at once; per session the browser's times in ms, or the error."""
    from playwright.async_api import async_playwright

    async with async_playwright() as play:
        browser = await play.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            contexts, pages = [], []
            for index in range(sessions):  # set up before the clock: only the page loads run together
                context = await browser.new_context(
                    storage_state=states[index % len(states)], viewport={"width": 1440, "height": 1000}, locale="en-US"
                )
                contexts.append(context)
                pages.append(await context.new_page())

            async def one(page: Any) -> Any:
                try:
                    await page.goto(f"{server.url}/analysis", timeout=timeout_ms)
                    handle = await page.wait_for_function(PAGE_DONE, arg=CHARTS, polling=25, timeout=timeout_ms)
                    return await handle.json_value()
                except Exception as exc:  # one failed session is a result, not the end of the run
                    try:
                        state = await page.evaluate(PAGE_STATE)
                    except Exception:
                        state = "unknown"
                    return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]} (page: {state})"}

            results = await asyncio.gather(*(one(page) for page in pages))
            for context in contexts:
                await context.close()
            return list(results)
        finally:
            await browser.close()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30, help="concurrent signed-in sessions (default 30)")
    parser.add_argument("--client", choices=("ws", "browser"), default="ws", help="websocket clients or chromium")
    parser.add_argument("--events", type=int, default=200_000, help="events in the generated sample")
    parser.add_argument("--accounts", type=int, default=10, help="accounts in the generated sample")
    parser.add_argument("--data-dir", type=Path, help="an existing export to serve instead of generating one")
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds one page may take before it counts as failed"
    )
    parser.add_argument("--settle", type=float, default=10.0, help="seconds of quiet before each memory reading")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.events < 1 or args.accounts < 2:
        parser.error("--sessions and --events must be at least 1, --accounts at least 2 (the demo users' accounts)")
    if not Path(CHROMIUM).is_file():
        print(f"{CHROMIUM} is missing: install Debian's chromium (make chromium) or set E2E_CHROMIUM.", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        root = Path(tmp)
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = root / "data"
            started = time.perf_counter()
            run_cli(
                ["generate", "--out", str(data_dir), "--accounts", str(args.accounts), "--events", str(args.events)]
                + ["--seed", "20261129", "--now", NOW],
                clean_env(),
            )
            print(f"sample: {args.events:,} events, {args.accounts} accounts ({time.perf_counter() - started:.1f} s)")
        print(f"load average before: {load_average()} on {os.cpu_count()} cores")
        server = start_server("saas", Sample(data_dir=data_dir, reports={}), root)
        sampler = MemorySampler(server.process.pid)
        try:
            started = time.perf_counter()
            states = signed_in_states(server, list(PASSWORDS))  # the first page view also ingests the export
            print(f"server up, {len(states)} demo users signed in ({time.perf_counter() - started:.1f} s)")
            # Warm: one full page view per demo user before the baseline, so the baseline holds the
            # loaded modules, the data and one session's worth of caches.
            warm = asyncio.run(load_pages(server, states, len(states), int(args.timeout * 1000)))
            if any("error" in result for result in warm):
                raise RuntimeError(f"the warm-up page views failed: {warm}")
            baseline = settled_rss(server.process.pid, args.settle)
            sampler.start()
            sampler.reset()
            load_before = load_average()
            wall = time.perf_counter()
            if args.client == "ws":
                results = asyncio.run(load_over_websockets(server, states, args.sessions, args.timeout))
            else:
                results = asyncio.run(load_pages(server, states, args.sessions, int(args.timeout * 1000)))
            wall = time.perf_counter() - wall
            peak = sampler.peak
            load_during = load_average()
            after = settled_rss(server.process.pid, args.settle)
            sampler.stop()
        finally:
            sampler.stop()
            stop_server(server)
            log_tail = server.log_tail(2000)

    complete = [r for r in results if "error" not in r]
    failed = [r["error"] for r in results if "error" in r]
    clients = f"one chromium, {args.sessions} contexts" if args.client == "browser" else "websocket clients"
    print(f"\n{args.sessions} sessions opened /analysis at once ({clients}), {wall:.1f} s")
    print(f"load average: {load_before} before the sessions, {load_during} after them")
    print(f"pages complete: {len(complete)} of {args.sessions}")
    for error in sorted(set(failed)):
        print(f"  failed ({failed.count(error)}x): {error}")
    if complete:
        drawn = [r["drawn"] / 1000 for r in complete]
        done = [r["complete"] / 1000 for r in complete]
        last = "drawn" if args.client == "browser" else "received"
        for label, seconds in ((f"the last chart {last}", drawn), ("the page complete", done)):
            print(
                f"time to {label}: p50 {statistics.median(seconds):.2f} s, p95 {percentile(seconds, 0.95):.2f} s,"
                f" max {max(seconds):.2f} s"
            )
    ratio = after / baseline
    verdict = "PASS" if ratio <= MEMORY_TARGET else "MISS"
    print(f"server RSS: warm baseline {baseline:.0f} MB, peak during {peak:.0f} MB, after close {after:.0f} MB")
    print(f"memory back within {MEMORY_TARGET}x of the warm baseline: {ratio:.2f}x {verdict}")
    verdict = "PASS" if len(complete) == args.sessions else "MISS"
    print(f"every page complete: {verdict}")
    if failed:
        print(f"\nserver log (tail):\n{log_tail}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"bench_load failed: {exc}", file=sys.stderr)
        sys.exit(1)
