"""Benchmark of the data engine: ingest, figure set, plain pandas, DuckDB over raw parquet.

    python benchmarks/bench.py [--sizes 1000000,10000000] [--with-100m] [--runs 7] [--keep | --no-keep] [--fresh]
                               [--json results.json]

Not a test. For each size it generates sample exports once (fixed seed and clock, reused
from benchmarks/.data/ unless --fresh), then runs every measured part in its own child
process so that each part's peak memory is its own (the child's VmHWM; see peak_mb):

  baseline   python + duckdb + pandas + pyarrow imported, nothing else (the floor of every peak)
  ingest     Store.open(settings) on a fresh cache: wall time, events/s, phases
  engine     analysis_figures() for the largest and the median account, median of warm runs
  pandas     a plain pandas implementation of the same figures: load once, then per page view
  raw        the same figures as DuckDB SQL straight over the parquet files (no ingest, no rollup)
  diag       where ingest time goes: parquet decode, plain copy into DuckDB, each rebuild statement
  incr       one small export file added to the ingested cache: the incremental ingest

The pandas and raw-parquet figures are checked against the engine's (they must be equal)
before any ratio is printed. Progress goes to stderr, the tables to stdout. The exit status
is 1 when a part fails or the figures disagree; a missed target is reported, not an error.
See docs/BENCHMARK.md for the measured tables and how to read them.

The package, by part: common (constants, timing, run_part), data (sample exports, the messy
variant), ingest (ingest, diag, incr), figures (the SPEC §7 assembly and the engine part),
baselines (import floor, plain pandas, raw parquet), runner (child entry, every part for one
size, the self-check), report (tables, targets, machine), cli (options). Run it through
`python benchmarks/bench.py`.
"""
