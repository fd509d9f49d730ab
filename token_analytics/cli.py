"""Command line (SPEC §7): generate, ingest, check, report; alerts; rollup; users add / passwd / unlock."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import duckdb

from token_analytics import service
from token_analytics.accounts import users
from token_analytics.accounts.throttle import Throttle, normalise
from token_analytics.alerts import rules as alerts
from token_analytics.alerts import webhooks
from token_analytics.appdb import AppDB, open_app_db
from token_analytics.db import StoreError, StoreLocked
from token_analytics.engine import derived, rollup
from token_analytics.engine.figures import analysis_figures
from token_analytics.engine.ingest import Step
from token_analytics.engine.sample import generate
from token_analytics.engine.store import Store
from token_analytics.settings import MODES, Mode, Settings, SettingsError, load_settings, parse_instant

PLAIN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _progress(fraction: float, step: Step) -> None:
    print(f"[{fraction:6.1%}] {step}", file=sys.stderr, flush=True)  # the step's English sentence


def parse_as_of(value: str, settings: Settings, option: str = "--as-of") -> datetime:
    """An instant with its offset, or a plain date `YYYY-MM-DD`: the last instant of that day in the business zone.

    End of day, because "the report as of 30 Nov" asks for the figures as they stood when that day was over.
    """
    text = value.strip()
    if PLAIN_DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise SettingsError(f"{option}={value!r} is not a date such as 2026-11-30.") from None
        return datetime.combine(day, time.max, tzinfo=settings.zone)
    return parse_instant(value, option)


def local_time(moment: datetime | None, settings: Settings) -> str:
    """A time as a person reads it: in the business zone, to the second, with its offset ("-" when none)."""
    if moment is None:
        return "-"
    if moment.tzinfo is None:  # DuckDB hands UTC instants back naive
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(settings.zone).isoformat(sep=" ", timespec="seconds")


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:

    now = parse_instant(args.now, "--now") if args.now else settings.now()
    summary = generate(
        Path(args.out),
        accounts=args.accounts,
        events=args.events,
        seed=args.seed,
        now=now,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    for key in ("first_event_at", "last_event_at"):
        if summary.get(key) is not None:
            summary[key] = summary[key].astimezone(settings.zone).isoformat(timespec="seconds")
    if args.json:
        _print_json(summary)
        return 0
    print(
        f"wrote {summary['events']:,} usage events, {summary['transactions']:,} transactions, "
        f"{summary['accounts']} accounts and {summary['members']} members in {summary['files']} files to "
        f"{summary['out']}; events from {summary['first_event_at']} to {summary['last_event_at']}"
    )
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    try:
        store = Store.open(settings, ingest=False)
    except StoreLocked:  # the dashboard holds the files: it runs the ingest (service.py)
        reply = service.request(settings, service.Request(service.Op.INGEST))
        if args.json:
            _print_json({"by": "dashboard", "summary": reply.summary})
        else:
            print(reply.summary)
        return 0
    with store:
        summary = store.ingest(progress=_progress)
    if args.json:
        _print_json(
            {
                "by": "this process",
                "derived_dir": str(settings.derived_dir) if settings.derived_dir is not None else None,
                "files_read": [report.path for report in summary.read],
                "rows_read": summary.rows_read,
                "unchanged": summary.unchanged,
                "removed": summary.removed,
                "retry_later": summary.retry_later,
                "rebuilt": summary.rebuilt,
                "seconds": round(summary.seconds, 3),
            }
        )
    elif settings.derived_dir is not None:
        state = "loaded" if summary.rebuilt else "unchanged, nothing loaded"
        print(f"derived folder {settings.derived_dir}: {state} in {summary.seconds:.2f} s")
    else:
        print(service.summary_line(summary))
    return 0


def health_json(store: Store) -> dict[str, Any]:
    """The data-health report as JSON: the totals, one object per file and per quarantine reason."""
    health = store.health()
    files = health.files.astype(object).where(health.files.notna(), None)
    rows = []
    for row in files.to_dict("records"):
        latest = row.pop("latest_at", None)
        rows.append(row | {"latest_at": local_time(latest, store.settings) if latest is not None else None})
    return {
        "clean": health.clean,
        "files_read": health.files_read,
        "bad_files": health.bad_files,
        "quarantined_rows": health.quarantined_rows,
        "latest_event_at": local_time(health.latest_event_at, store.settings) if health.latest_event_at else None,
        "timezone": store.settings.timezone,
        "files": rows,
        "quarantined": health.reasons.to_dict("records"),
    }


def print_health(store: Store) -> bool:
    """Print the data-health report; True when nothing was quarantined."""
    health = store.health()
    files = health.files
    print(
        f"{len(files)} files: {health.files_read} read, {health.bad_files} rejected; "
        f"{health.quarantined_rows:,} rows quarantined; "
        f"latest event {local_time(health.latest_event_at, store.settings)}"
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
        with Store.open(scratch_settings, progress=_progress if args.progress else None) as store:
            if args.json:
                report = health_json(store)
                _print_json(report)
                clean = report["clean"]
            else:
                clean = print_health(store)
    return 0 if clean else 1


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:

    if args.mode:
        settings = replace(settings, mode=Mode(args.mode))
    now = parse_as_of(args.as_of, settings) if args.as_of else settings.now()
    try:
        store = Store.open(settings)
    except StoreLocked:  # the dashboard holds the files: it computes the figures (service.py)
        payload = service.Request(service.Op.REPORT, account=args.account, as_of=now.isoformat(), mode=settings.mode)
        figures = service.request(settings, payload).figures  # an unknown account is a StoreError there
    else:
        with store:
            if args.account not in store.account_ids():
                print(f"report: {unknown_account(args.account, settings)}", file=sys.stderr)
                return 2
            figures = analysis_figures(store, args.account, now, settings.mode).to_json()
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    return 0


def unknown_account(account: str, settings: Settings) -> str:
    return f"there is no account {account!r} in {settings.derived_dir or settings.data_dir}; check the account id."


def cmd_rollup(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the ingest rules to an export folder and write the derived folder (docs/DERIVED_FORMAT.md)."""
    now = parse_instant(args.now, "--now") if args.now else settings.now()
    if (args.every or args.rounds is not None) and args.engine != "spark":
        print("rollup: --every keeps a Spark session between runs; run the duckdb engine from cron.", file=sys.stderr)
        return 2
    if args.engine == "spark":
        try:
            from token_analytics.engine import spark_rollup  # type: ignore[attr-defined]
        except ModuleNotFoundError as exc:
            print(f"rollup: the Spark engine is not available here ({exc.name} is missing).", file=sys.stderr)
            return 2
        try:
            seconds = spark_rollup.schedule(args.every, args.rounds)
            if seconds:
                ok = spark_rollup.every(
                    str(args.exports),
                    str(args.out),
                    timezone=settings.timezone,
                    seconds=seconds,
                    clock=(lambda: now) if args.now else settings.now,
                    master=args.master,
                    rounds=args.rounds,
                    stop=spark_rollup.stop_on_signals(),
                )
                return 0 if ok else 2
            result = spark_rollup.rollup(
                str(args.exports), str(args.out), timezone=settings.timezone, now=now, master=args.master
            )
        except spark_rollup.RollupError as exc:
            print(f"rollup: {exc}", file=sys.stderr)
            return 2
        print(result)
        return 0

    try:
        summary = rollup.rollup(
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

    now = parse_instant(args.as_of, "--as-of") if args.as_of else settings.now()
    receivers = webhooks.receivers(settings)
    try:
        store = Store.open(settings)
    except StoreLocked:  # the dashboard holds the files: it evaluates and sends (service.py)
        payload = service.Request(
            service.Op.ALERTS,
            as_of=now.isoformat(),
            mode=settings.mode,
            dry_run=args.dry_run,
            webhooks=settings.alert_webhooks,
        )
        result = alerts.RunResult.from_json(service.request(settings, payload).result or {})
    else:
        try:
            result = alerts.run(
                store,
                AppDB(store.cursor(), zone=settings.zone).alerts,
                receivers,
                now,
                settings.mode,
                dry_run=args.dry_run,
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
    database, it does the unlock (service.py); otherwise the file is opened here.
    """

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
        # the dashboard holds the file: it does the unlock
        service.request(settings, service.Request(service.Op.UNLOCK, username=name, by=by))
    else:
        try:
            Throttle(app.connection).unlock("username", name, by, datetime.now(tz=UTC))
        finally:
            app.close()
    print(f"unlocked {name}: its failed sign-ins no longer count, from any address.")
    return 0


def read_password(args: argparse.Namespace) -> str:
    """The new password: the first line of standard input with --password-stdin, else typed twice, unseen."""
    if args.password_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("The same password again: "):
        raise users.UsersFileError("the two passwords differ; nothing was changed.")
    return first


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    """`users add NAME --account A --role R`: a new sign-in in the users file (ANALYTICS_AUTH_FILE)."""
    try:
        user = users.add_user(
            settings.auth_file,
            args.name,
            account_id=args.account,
            role=args.role,
            password=read_password(args),
            name=args.full_name,
            email=args.email,
        )
    except (users.UsersFileError, users.AuthConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"added {user.username} ({user.role}, {user.account_id}) to {settings.auth_file}")
    return 0


def cmd_users_passwd(args: argparse.Namespace, settings: Settings) -> int:
    """`users passwd NAME`: a new password hash; the user's sign-in sessions end on their next page."""
    try:
        user = users.set_password(settings.auth_file, args.name, read_password(args))
    except (users.UsersFileError, users.AuthConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"changed the password of {user.username} in {settings.auth_file}; its open sessions end")
    return 0


def sample_files(env: dict[str, str]) -> tuple[Path, list[Path]]:
    """The default sample folder and the DuckDB files made from it in either mode (with their WAL files).

    Only the default paths: an ANALYTICS_APP_DB or ANALYTICS_CACHE_DB of your own is never touched.
    """
    defaults = {key: value for key, value in env.items() if not key.startswith("ANALYTICS_")}
    files: list[Path] = []
    for mode in MODES:
        settings = load_settings(defaults | {"ANALYTICS_MODE": mode})
        for db in (settings.app_db, settings.cache_db):
            files += [db, db.with_name(db.name + ".wal")]
    return load_settings(defaults).data_dir, files


def cmd_reset_sample(args: argparse.Namespace, settings: Settings) -> int:
    """Delete the generated sample and its DuckDB files, so the next start generates a fresh one."""

    if not settings.data_dir_is_default or settings.derived_dir is not None:
        print(
            f"reset-sample: ANALYTICS_DATA_DIR is {settings.derived_dir or settings.data_dir}, not the generated "
            "sample; it deletes only the default data/sample/ (unset ANALYTICS_DATA_DIR and ANALYTICS_DERIVED_DIR).",
            file=sys.stderr,
        )
        return 2
    sample, files = sample_files(dict(os.environ))
    for db in files:
        if db.suffix != ".duckdb" or not db.exists():
            continue
        try:  # DuckDB lets one process hold a file: a running dashboard makes this fail
            duckdb.connect(str(db)).close()
        except duckdb.Error:
            print(
                f"reset-sample: {db.name} is in use (probably by a running dashboard); stop it, then run this again.",
                file=sys.stderr,
            )
            return 2
    removed = [path for path in files if path.exists()]
    for path in removed:
        path.unlink()
    if sample.is_dir():
        shutil.rmtree(sample)
        removed.insert(0, sample)
    for path in removed:
        print(f"deleted {path}")
    print("nothing to delete" if not removed else "the next `make run` generates a fresh sample")
    return 0


# An example per command, shown by `--help` (RawDescriptionHelpFormatter keeps the lines as written).
EXAMPLES = {
    "generate": "example:\n  python -m token_analytics generate --out /tmp/exports --accounts 4 --events 5000 --json",
    "ingest": "example, from cron:\n  ANALYTICS_DATA_DIR=/srv/exports python -m token_analytics ingest --json",
    "check": "examples:\n  python -m token_analytics check /srv/exports\n"
    "  python -m token_analytics check /srv/exports --json | jq .quarantined_rows",
    "report": "examples:\n  python -m token_analytics report --account acct-001\n"
    "  python -m token_analytics report --account acct-001 --as-of 2026-11-30   # as it stood at the end of 30 Nov\n"
    "  python -m token_analytics report --account acct-001 --as-of 2026-11-30T10:00:00+08:00 --mode self-hosted",
    "rollup": "example:\n  python -m token_analytics rollup --exports /srv/exports --out /srv/derived --progress",
    "alerts": "example, from cron every 10 minutes:\n  */10 * * * * cd /srv/token-analytics && "
    ".venv/bin/python -m token_analytics alerts\n  python -m token_analytics alerts --dry-run",
    "reset-sample": "example:\n  python -m token_analytics reset-sample   # or: make reset-sample",
    "users": "examples:\n  python -m token_analytics users add li.wei --account acct-001 --role manager\n"
    "  python -m token_analytics users passwd li.wei\n"
    "  python -m token_analytics users unlock admin   # when a sign-in is paused",
}
AS_OF_HELP = (
    "ISO-8601 with offset, or a plain date YYYY-MM-DD meaning the end of that day (its last instant) in "
    "ANALYTICS_TIMEZONE; default ANALYTICS_NOW or the wall clock"
)


def _add_examples(commands: argparse._SubParsersAction) -> None:
    for name, command in commands.choices.items():
        if name in EXAMPLES and not command.epilog:
            command.epilog = EXAMPLES[name]
            command.formatter_class = argparse.RawDescriptionHelpFormatter


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m token_analytics", description="Token Analytics Center")
    commands = top.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write realistic sample exports")
    gen.add_argument("--out", required=True)
    gen.add_argument("--accounts", type=int, default=12)
    gen.add_argument("--events", type=int, default=200_000)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--now", help="ISO-8601 with offset; default ANALYTICS_NOW or the wall clock")
    gen.add_argument("--json", action="store_true", help="print what was written as JSON")
    gen.set_defaults(func=cmd_generate)
    ing = commands.add_parser("ingest", help="bring the cache up to date with ANALYTICS_DATA_DIR")
    ing.add_argument("--json", action="store_true", help="print the summary as JSON")
    ing.set_defaults(func=cmd_ingest)
    chk = commands.add_parser("check", help="data-health report; exit 1 when anything was quarantined")
    chk.add_argument("dir")
    chk.add_argument("--progress", action="store_true")
    chk.add_argument("--json", action="store_true", help="print the report as JSON (times in ANALYTICS_TIMEZONE)")
    chk.set_defaults(func=cmd_check)
    rep = commands.add_parser("report", help="every figure of /analysis for one account, as JSON")
    rep.add_argument("--account", required=True, help="an account id of the exports; unknown: exit 2")
    rep.add_argument("--as-of", help=AS_OF_HELP)
    rep.add_argument("--mode", choices=MODES)
    rep.set_defaults(func=cmd_report)
    rol = commands.add_parser("rollup", help="apply the ingest rules to an export folder; write a derived folder")
    rol.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    rol.add_argument("--exports", required=True, help="the export folder (URI for spark)")
    rol.add_argument("--out", required=True, help="the derived folder to write or bring up to date")
    rol.add_argument("--now", help="ISO-8601 with offset, places the hourly window; default ANALYTICS_NOW or the clock")
    rol.add_argument("--master", help="spark: the master URL (default local[*])")
    rol.add_argument("--cache", help="duckdb: keep the ingest database here between runs (default: scratch)")
    rol.add_argument(
        "--every",
        metavar="DURATION",
        help="spark: keep the Spark session and run again every DURATION (600, 10m, 1h) until stopped (SIGTERM, "
        "Ctrl-C): a rerun then costs what it adds, not a JVM's start (docs/SPARK.md)",
    )
    rol.add_argument("--rounds", type=int, help="spark, with --every: stop after this many runs")
    rol.add_argument("--progress", action="store_true")
    rol.set_defaults(func=cmd_rollup)
    alr = commands.add_parser("alerts", help="evaluate every account's alert thresholds and post changes to webhooks")
    alr.add_argument("--dry-run", action="store_true", help="show what would be notified; write and send nothing")
    alr.add_argument("--as-of", help="ISO-8601 with offset; default ANALYTICS_NOW or the wall clock")
    alr.set_defaults(func=cmd_alerts)
    usr = commands.add_parser("users", help="manage sign-ins: `users add`, `users passwd`, `users unlock NAME`")
    usr_commands = usr.add_subparsers(dest="users_command", required=True)
    add = usr_commands.add_parser("add", help="add a user to ANALYTICS_AUTH_FILE (the password is asked for)")
    add.add_argument("name", help="the username, typed at sign-in")
    add.add_argument("--account", required=True, help="the account whose data the user sees")
    add.add_argument("--role", required=True, choices=users.ROLES)
    add.add_argument("--full-name", help="the name shown in the dashboard (default: the username)")
    add.add_argument("--email")
    pwd = usr_commands.add_parser("passwd", help="set a user's password in ANALYTICS_AUTH_FILE; its sessions end")
    pwd.add_argument("name", help="the username")
    for command in (add, pwd):
        command.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_users_add)
    pwd.set_defaults(func=cmd_users_passwd)
    unl = usr_commands.add_parser("unlock", help="clear a username's failed sign-ins at every address (audited)")
    unl.add_argument("name", help="the username, as typed at sign-in")
    unl.set_defaults(func=cmd_users)
    rst = commands.add_parser(
        "reset-sample", help="delete the generated sample and its DuckDB files (both modes); the next start regenerates"
    )
    rst.set_defaults(func=cmd_reset_sample)
    _add_examples(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        try:
            return args.func(args, load_settings())
        finally:
            sys.stdout.flush()  # inside the try: a reader that went away fails here, not at exit
    except (SettingsError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `... | head -3`: the reader has what it wanted. Point stdout at /dev/null so the interpreter's
        # own flush at exit does not fail again, and exit as a command killed by SIGPIPE would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
