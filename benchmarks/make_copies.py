"""A large export from a smaller one: N copies of its event files, each copy's event ids suffixed.

    python benchmarks/make_copies.py SOURCE OUT --copies 10 [--next-day 1000000]

The 100M measurements of docs/BENCHMARK.md (2026-12-01) read 10 copies of a generated 10M export
(generating 100M events directly takes about an hour on 2 cores). Accounts, members and transactions are
copied as they are; every copy of an event file gets `-c<k>` after each event id, so no copy duplicates
another. `--next-day N` also writes OUT/next-day.parquet (outside the export): N events of a source file
(`--next-from`) with new ids, moved to the 10 hours before 2026-11-29T02:00Z, for the "1% new events" step
(copy it under usage_events/ to add it).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import duckdb

COPY = "select * replace (event_id || $suffix as event_id) from read_parquet($src, hive_partitioning = false)"
NEXT = (
    "select * replace (event_id || '-next' as event_id, '2026-11-28 16:00:00+00'::timestamptz"
    " + to_microseconds(epoch_us(occurred_at) % 36000000000) as occurred_at)"
    " from read_parquet($src, hive_partitioning = false) limit $rows"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--next-day", type=int, default=0)
    parser.add_argument("--next-from", default="usage_events/month=2026-11/part-0000.parquet")
    args = parser.parse_args()
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for kind in ("accounts", "members", "transactions"):
        if (args.source / kind).is_dir():
            shutil.copytree(args.source / kind, args.out / kind, dirs_exist_ok=True)
    events = sorted((args.source / "usage_events").rglob("*.parquet"))
    for k in range(args.copies):
        for src in events:
            target = args.out / src.relative_to(args.source).with_name(f"{src.stem}-c{k}.parquet")
            target.parent.mkdir(parents=True, exist_ok=True)
            relation = con.sql(COPY, params={"suffix": f"-c{k}", "src": str(src)})
            relation.write_parquet(str(target), row_group_size=700_000)
    if args.next_day:
        relation = con.sql(NEXT, params={"src": str(args.source / args.next_from), "rows": args.next_day})
        relation.write_parquet(str(args.out / "next-day.parquet"))
    print(f"{args.copies} copies of {len(events)} event files in {args.out}")


if __name__ == "__main__":
    main()
