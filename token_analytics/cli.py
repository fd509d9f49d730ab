"""Command line (SPEC §7): generate, ingest, check, report; alerts (issue 13); rollup (issue 12); users unlock."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from token_analytics.engine import service
from token_analytics.engine.ingest import Step
from token_analytics.engine.store import Store, StoreError, StoreLocked
from token_analytics.settings import MODES, Settings, SettingsError, load_settings, parse_instant


def _progress(fraction: float, step: Step) -> None:
    print(f"[{fraction:6.1%}] {step}", file=sys.stderr, flush=True)  # the step's English sentence


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from token_analytics.engine.sample import generate

    now = parse_instant(args.now, "--now") if args.now else settings.now()
    summary = generate(
        Path(args.out),
        accounts=args.accounts,
        events=args.events,
        seed=args.seed,
        now=now,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    try:
        store = Store.open(settings, ingest=False)
    except StoreLocked:  # the dashboard holds the files: it runs the ingest (engine.service)
        print(service.request(settings, {"op": "ingest"})["summary"])
        return 0
    summary = store.ingest(progress=_progress)
    store.close()
    if settings.derived_dir is not None:
        state = "loaded" if summary.rebuilt else "unchanged, nothing loaded"
        print(f"derived folder {settings.derived_dir}: {state} in {summary.seconds:.2f} s")
    else:
        print(service.summary_line(summary))
    return 0


def print_health(store: Store) -> bool:
    """Print the data-health report; True when nothing was quarantined."""
    health = store.health()
    files = health.files
    print(
        f"{len(files)} files: {health.files_read} read, {health.bad_files} rejected; "
        f"{health.quarantined_rows:,} rows quarantined; latest event {health.latest_event_at}"
    )
    for row in files.itertuples():
        if row.status != "ok":
            print(f"  rejected {row.path}: {row.error}")
            continue
        print(
            f"  ok       {row.path}: {row.rows_read:,} rows, {row.accepted:,} accepted, "
            f"{row.quarantined:,} quarantined, {row.duplicates:,} duplicates, {row.conflicts:,} conflicts"
        )
    for row in health.reasons.itertuples():
        print(f"  quarantined {row.rows:,} rows of {row.path}: {row.reason}")
    return health.clean


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from token_analytics.engine import derived

    data_dir = Path(args.dir).resolve()
    if not data_dir.is_dir():
        print(f"check: {data_dir} is not a folder.", file=sys.stderr)
        return 2
    derived_dir = None
    if (data_dir / derived.FORMAT_FILE).exists():  # a derived folder: its data-health tables, in its own zone
        derived_dir = data_dir
        settings = replace(settings, timezone=derived.read_format(data_dir)[1]["timezone"])
    with tempfile.TemporaryDirectory() as scratch:
        scratch_settings = replace(
            settings,
            data_dir=data_dir,
            derived_dir=derived_dir,
            cache_db=Path(scratch) / "cache.duckdb",
            app_db=Path(scratch) / "app.duckdb",
        )
        store = Store.open(scratch_settings, progress=_progress if args.progress else None)
        clean = print_health(store)
        store.close()
    return 0 if clean else 1


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from token_analytics.engine.figures import analysis_figures

    if args.mode:
        settings = replace(settings, mode=args.mode)
    now = parse_instant(args.as_of, "--as-of") if args.as_of else settings.now()
    try:
        store = Store.open(settings)
    except StoreLocked:  # the dashboard holds the files: it computes the figures (engine.service)
        payload = {"op": "report", "account": args.account, "as_of": now.isoformat(), "mode": settings.mode}
        figures = service.request(settings, payload)["figures"]
    else:
        figures = analysis_figures(store, args.account, now, settings.mode)
        store.close()
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    return 0


def cmd_rollup(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the ingest rules to an export folder and write the derived folder (docs/DERIVED_FORMAT.md)."""
    now = parse_instant(args.now, "--now") if args.now else settings.now()
    if args.engine == "spark":
        try:
            from token_analytics.engine import spark_rollup  # type: ignore[attr-defined]
        except ModuleNotFoundError as exc:
            print(f"rollup: the Spark engine is not available here ({exc.name} is missing).", file=sys.stderr)
            return 2
        try:
            result = spark_rollup.rollup(
                str(args.exports), str(args.out), timezone=settings.timezone, now=now, master=args.master
            )
        except spark_rollup.RollupError as exc:
            print(f"rollup: {exc}", file=sys.stderr)
            return 2
        print(result)
        return 0
    from token_analytics.engine import derived

    try:
        summary = derived.rollup(
            Path(args.exports).resolve(),
            Path(args.out).resolve(),
            settings,
            now,
            cache=Path(args.cache).resolve() if args.cache else None,
            progress=_progress if args.progress else None,
        )
    except derived.DerivedError as exc:
        print(f"rollup: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


def _figure(value: float | None) -> str:
    """A value of an alert as a person writes it: -500, not -500.0; 2.5 stays 2.5."""
    if value is None:
        return "none"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate every account's thresholds, notify each change; exit 1 when a notification stays pending."""
    from token_analytics.billing.appdb import AppDB
    from token_analytics.engine import alerts, webhooks

    now = parse_instant(args.as_of, "--as-of") if args.as_of else settings.now()
    receivers = webhooks.receivers(settings)
    try:
        store = Store.open(settings)
    except StoreLocked:  # the dashboard holds the files: it evaluates and sends (engine.service)
        payload = {
            "op": "alerts",
            "as_of": now.isoformat(),
            "mode": settings.mode,
            "dry_run": args.dry_run,
            "webhooks": [list(pair) for pair in settings.alert_webhooks],
        }
        result = alerts.RunResult.from_json(service.request(settings, payload)["result"])
    else:
        try:
            result = alerts.run(
                store, AppDB(store.cursor(), zone=settings.zone), receivers, now, settings.mode, dry_run=args.dry_run
            )
        except alerts.AlertsBusy as exc:
            print(f"alerts: {exc}.", file=sys.stderr)
            return 2
        finally:
            store.close()
    prefix = "would notify" if args.dry_run else "notify"
    for change in result.changes:
        print(
            f"{prefix} {change.state} {change.account_id} {change.rule}: "
            f"value {_figure(change.value)}, threshold {_figure(change.threshold)}"
        )
    if not receivers and not args.dry_run:
        waits = (
            f"{result.waiting} state changes wait and are sent once one is"
            if result.waiting
            else "no change waits to be sent"
        )
        print(f"alerts: no webhook is configured (ANALYTICS_ALERT_WEBHOOKS); {waits}.", file=sys.stderr)
    for key, event_id in result.sent:
        print(f"sent {event_id} to {key}")
    for key, _event_id, error in result.failed:
        print(f"alerts: {key} failed ({error}); its notifications stay pending for the next run.", file=sys.stderr)
    if result.out_of_time:
        print(
            "alerts: the run reached its time limit; the notifications not sent stay pending for the next run.",
            file=sys.stderr,
        )
    if args.dry_run:
        waits = f", {result.waiting} waiting for a webhook" if result.waiting else ""
        print(
            f"{len(result.changes)} changes, {result.pending} notifications would be sent{waits} "
            "(dry run: nothing written or sent)"
        )
    else:
        print(f"{len(result.changes)} changes, {len(result.sent)} notifications sent, {result.pending} pending")
    return 1 if result.failed or result.out_of_time else 0


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    """`users unlock NAME`: a username's failed sign-ins stop counting, at every address (audited).

    The way back for a sole admin whose name is paused. While the dashboard holds the app
    database, it does the unlock (engine.service); otherwise the file is opened here.
    """
    import getpass
    from datetime import UTC, datetime

    import duckdb

    from token_analytics.billing.appdb import open_app_db
    from token_analytics.billing.throttle import Throttle, normalise

    name = normalise(args.name)
    if not name:
        print("error: give the username to unlock, e.g. `users unlock admin`.", file=sys.stderr)
        return 2
    by = f"{getpass.getuser()} (command line)"
    try:
        app = open_app_db(settings.app_db, zone=settings.zone)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            detail = str(exc).splitlines()[0]
            raise StoreError(f"Cannot open the app database {settings.app_db.name}: {detail}") from exc
        service.request(settings, {"op": "unlock", "username": name, "by": by})  # the dashboard holds the file
    else:
        try:
            Throttle(app.connection).unlock("username", name, by, datetime.now(tz=UTC))
        finally:
            app.close()
    print(f"unlocked {name}: its failed sign-ins no longer count, from any address.")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m token_analytics", description="Token Analytics Center")
    commands = top.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write realistic sample exports")
    gen.add_argument("--out", required=True)
    gen.add_argument("--accounts", type=int, default=12)
    gen.add_argument("--events", type=int, default=200_000)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--now", help="ISO-8601 with offset; default ANALYTICS_NOW or the wall clock")
    gen.set_defaults(func=cmd_generate)
    ing = commands.add_parser("ingest", help="bring the cache up to date with ANALYTICS_DATA_DIR")
    ing.set_defaults(func=cmd_ingest)
    chk = commands.add_parser("check", help="data-health report; exit 1 when anything was quarantined")
    chk.add_argument("dir")
    chk.add_argument("--progress", action="store_true")
    chk.set_defaults(func=cmd_check)
    rep = commands.add_parser("report", help="every figure of /analysis for one account, as JSON")
    rep.add_argument("--account", required=True)
    rep.add_argument("--as-of", help="ISO-8601 with offset; default ANALYTICS_NOW or the wall clock")
    rep.add_argument("--mode", choices=MODES)
    rep.set_defaults(func=cmd_report)
    rol = commands.add_parser("rollup", help="apply the ingest rules to an export folder; write a derived folder")
    rol.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    rol.add_argument("--exports", required=True, help="the export folder (URI for spark)")
    rol.add_argument("--out", required=True, help="the derived folder to write or bring up to date")
    rol.add_argument("--now", help="ISO-8601 with offset, places the hourly window; default ANALYTICS_NOW or the clock")
    rol.add_argument("--master", help="spark: the master URL (default local[*])")
    rol.add_argument("--cache", help="duckdb: keep the ingest database here between runs (default: scratch)")
    rol.add_argument("--progress", action="store_true")
    rol.set_defaults(func=cmd_rollup)
    alr = commands.add_parser("alerts", help="evaluate every account's alert thresholds and post changes to webhooks")
    alr.add_argument("--dry-run", action="store_true", help="show what would be notified; write and send nothing")
    alr.add_argument("--as-of", help="ISO-8601 with offset; default ANALYTICS_NOW or the wall clock")
    alr.set_defaults(func=cmd_alerts)
    usr = commands.add_parser("users", help="manage sign-ins: `users unlock NAME` ends a paused sign-in")
    usr_commands = usr.add_subparsers(dest="users_command", required=True)
    unl = usr_commands.add_parser("unlock", help="clear a username's failed sign-ins at every address (audited)")
    unl.add_argument("name", help="the username, as typed at sign-in")
    unl.set_defaults(func=cmd_users)
    return top


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        return args.func(args, load_settings())
    except (SettingsError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
