"""An export at the platform's cardinality (engine.sample.PLATFORM): the shape the ingest meets in production.

    python benchmarks/make_platform.py OUT [--events 10000000] [--accounts 200] [--seed 20261129]

About 6,000 members (200 accounts of 20-40, Zipf-sized volumes), 4 models, 90 days, one events file per UTC
day in `month=` folders, 2% of events exported again in a neighbouring day's file (a fifth of those with
changed content). Its daily and hourly rollups have ~10x the groups of the demo sample's shape at the same
number of events; compare ingests of both with benchmarks/bench_ingest_ab.py or bench_platform_ingest.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the package, from a checkout

from token_analytics.engine.sample import PLATFORM, generate  # noqa: E402

NOW = "2026-11-29T10:00:00+08:00"  # the benchmark's clock (benchmarks/engine_bench)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    summary = generate(
        args.out,
        accounts=args.accounts,
        events=args.events,
        seed=args.seed,
        now=datetime.fromisoformat(NOW),
        shape=PLATFORM,
    )
    summary["generate_s"] = round(time.perf_counter() - started, 1)
    summary["load_average"] = round(os.getloadavg()[0], 1)
    print(json.dumps(summary, default=str, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
