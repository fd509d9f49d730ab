"""Benchmark of the data engine; the parts live in benchmarks/engine_bench/.

    python benchmarks/bench.py [--sizes 1000000,10000000] [--with-100m] [--runs 7] [--keep | --no-keep] [--fresh]
                               [--json results.json]

See benchmarks/engine_bench/__init__.py for what each part measures and docs/BENCHMARK.md
for the measured tables.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # engine_bench, also for the child parts

from engine_bench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
