"""The load benchmark's own pieces (benchmarks/bench_load.py): reading a page run, percentiles, memory."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parents[1]


def bench_load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "benchmarks" / "bench_load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_load", module)
    spec.loader.exec_module(module)
    return module


def element(kind: str) -> bytes:
    message = ForwardMsg()
    if kind == "plotly_chart":
        message.delta.new_element.plotly_chart.spec = "{}"
    elif kind == "vega_lite_chart":
        message.delta.new_element.vega_lite_chart.spec = "{}"
    elif kind == "exception":
        message.delta.new_element.exception.message = "boom"
    else:
        message.delta.new_element.markdown.body = "text"
    return message.SerializeToString()


def finished(status: int = ForwardMsg.FINISHED_SUCCESSFULLY) -> bytes:
    message = ForwardMsg()
    message.script_finished = status
    return message.SerializeToString()


def test_a_run_with_nine_charts_gives_the_ninth_charts_time_and_the_end() -> None:
    load = bench_load()
    # the charts arrive at 0.1 .. 0.9 s (Vega and Plotly charts count alike), a table at 1.0 s, the end at 1.1 s
    kinds = ["vega_lite_chart"] * 8 + ["plotly_chart"]
    run = [(0.05, element("markdown"))] + [(0.1 * (i + 1), element(kind)) for i, kind in enumerate(kinds)]
    run += [(1.0, element("markdown")), (1.1, finished())]
    page = load.read_page(run)
    assert page["drawn"] == 0.1 * 9 * 1000 and page["complete"] == 1100


def test_a_run_that_is_not_a_complete_page_is_an_error() -> None:
    load = bench_load()
    eight = [(0.1, element("vega_lite_chart"))] * 8
    assert "8 of 9 charts" in load.read_page([*eight, (0.5, finished())])["error"]
    assert "boom" in load.read_page([(0.1, element("exception")), (0.2, finished())])["error"]
    nine = [(0.1, element("vega_lite_chart"))] * 9
    assert "status" in load.read_page([*nine, (0.2, finished(ForwardMsg.FINISHED_WITH_COMPILE_ERROR))])["error"]
    assert "before the script finished" in load.read_page(nine)["error"]


def test_nearest_rank_percentile() -> None:
    load = bench_load()
    values = [float(v) for v in range(30, 0, -1)]  # 1..30, unsorted
    assert load.percentile(values, 0.95) == 29.0  # the 29th smallest of 30 (ceil(28.5))
    assert load.percentile(values, 0.5) == 15.0
    assert load.percentile([7.0], 0.95) == 7.0


def test_rss_of_this_process_matches_proc_status() -> None:
    load = bench_load()
    rss = load.rss_mb(os.getpid())
    statm_pages = int(Path("/proc/self/statm").read_text().split()[1])
    assert abs(rss - statm_pages * os.sysconf("SC_PAGE_SIZE") / 2**20) < 50
