"""The command line tells the truth: each test runs the real command in a subprocess, as a person or cron would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import NOW, settings_for
from token_analytics import cli as cli_module
from token_analytics import service
from token_analytics.engine.store import Store

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = sorted(
    next(a for a in cli_module.parser()._actions if isinstance(a, cli_module.argparse._SubParsersAction)).choices
)


def clean_env(**env: str) -> dict[str, str]:
    """The environment without the ANALYTICS_* settings of whoever runs the tests, plus `env`."""
    return {key: value for key, value in os.environ.items() if not key.startswith("ANALYTICS_")} | env


def cli(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "token_analytics", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The edge export with its cache ingested once; the environment a command needs to read it."""
    from tests.conftest import write_edge_export

    root = tmp_path_factory.mktemp("cli-truth")
    data_dir = write_edge_export(root / "export")
    env = clean_env(
        ANALYTICS_DATA_DIR=str(data_dir),
        ANALYTICS_APP_DB=str(root / "app.duckdb"),
        ANALYTICS_NOW=NOW,
        ANALYTICS_TIMEZONE="Asia/Shanghai",
    )
    assert cli("ingest", env=env).returncode == 0
    return env


def one_line(text: str) -> bool:
    return text.strip() != "" and "\n" not in text.strip()


# --- report ------------------------------------------------------------------------------------------------------


def test_report_on_an_unknown_account_is_one_line_and_exit_2(edge: dict[str, str]) -> None:
    done = cli("report", "--account", "acct-999", env=edge)
    assert done.returncode == 2
    assert done.stdout == ""
    assert one_line(done.stderr) and "acct-999" in done.stderr and "no account" in done.stderr


def test_report_on_an_unknown_account_through_the_running_dashboard_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from tests.conftest import write_edge_export

    data_dir = write_edge_export(tmp_path / "export")
    settings = settings_for(tmp_path, data_dir)
    env = clean_env(ANALYTICS_DATA_DIR=str(data_dir), ANALYTICS_APP_DB=str(settings.app_db), ANALYTICS_NOW=NOW)
    with Store.open(settings) as store:  # the "dashboard": it holds the files and answers the command
        answering = service.start(store)
        assert answering is not None
        try:
            done = cli("report", "--account", "acct-999", env=env)
            known = cli("report", "--account", "acct-a", env=env)
        finally:
            answering.close()
    assert done.returncode == 2 and one_line(done.stderr) and "acct-999" in done.stderr
    assert known.returncode == 0 and json.loads(known.stdout)["token_usage"]["used"] == 1212


def test_report_takes_a_plain_date_as_the_end_of_that_local_day(edge: dict[str, str]) -> None:
    plain = cli("report", "--account", "acct-a", "--as-of", "2026-11-02", env=edge)
    assert plain.returncode == 0, plain.stderr
    figures = json.loads(plain.stdout)
    # 2 Nov local: e4's 7 tokens (00:00 local) are that day's; 1 Nov's 150 are "yesterday"
    assert figures["cards"]["today"] == {"tokens": 7, "previous": 150, "growth_pct": -95.33333333333334}
    end_of_day = cli("report", "--account", "acct-a", "--as-of", "2026-11-02T23:59:59.999999+08:00", env=edge)
    assert json.loads(end_of_day.stdout) == figures


def test_a_date_that_does_not_exist_is_one_line(edge: dict[str, str]) -> None:
    done = cli("report", "--account", "acct-a", "--as-of", "2026-02-30", env=edge)
    assert done.returncode == 2 and one_line(done.stderr) and "2026-02-30" in done.stderr


# --- check -------------------------------------------------------------------------------------------------------


def test_check_prints_times_in_the_business_zone_to_the_second(edge: dict[str, str]) -> None:
    # the latest event, e4, is 2026-11-01T16:00:00 UTC: 2 Nov, midnight, in Shanghai
    done = cli("check", edge["ANALYTICS_DATA_DIR"], env=edge)
    assert done.returncode == 1  # the edge export has quarantined rows
    assert "latest event 2026-11-02 00:00:00+08:00" in done.stdout.splitlines()[0]
    in_new_york = cli("check", edge["ANALYTICS_DATA_DIR"], env=edge | {"ANALYTICS_TIMEZONE": "America/New_York"})
    assert "latest event 2026-11-01 11:00:00-05:00" in in_new_york.stdout.splitlines()[0]


def test_check_json_is_the_same_report_for_a_script(edge: dict[str, str]) -> None:
    done = cli("check", edge["ANALYTICS_DATA_DIR"], "--json", env=edge)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["clean"] is False and report["latest_event_at"] == "2026-11-02 00:00:00+08:00"
    assert report["bad_files"] == 4 and report["quarantined_rows"] == 10
    rejected = {row["path"]: row["error"] for row in report["files"] if row["status"] != "ok"}
    assert rejected["usage_events/month=2026-11/notes.parquet"] == "not a parquet file"
    assert {"path": "transactions/2026-10.parquet", "reason": "amount of the wrong sign"}.items() <= next(
        row for row in report["quarantined"] if row["reason"] == "amount of the wrong sign"
    ).items()


# --- ingest, generate --------------------------------------------------------------------------------------------


def test_ingest_json(edge: dict[str, str]) -> None:
    done = cli("ingest", "--json", env=edge)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["files_read"] == [] and summary["unchanged"] == 12 and summary["rebuilt"] is False


def test_generate_prints_a_line_for_people_and_json_for_scripts(tmp_path: Path) -> None:
    args = ["--accounts", "2", "--events", "500", "--now", NOW]
    line = cli("generate", "--out", str(tmp_path / "a"), *args, env=clean_env())
    assert line.returncode == 0, line.stderr
    assert one_line(line.stdout) and line.stdout.startswith("wrote 500 usage events")
    as_json = cli("generate", "--out", str(tmp_path / "b"), *args, "--json", env=clean_env())
    summary = json.loads(as_json.stdout)
    assert summary["events"] == 500 and summary["accounts"] == 2
    assert summary["last_event_at"].endswith("+08:00")  # the business zone, to the second


# --- every command -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_module.main([command, "--help"])  # in-process: one interpreter start per command is seconds
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out and f"python -m token_analytics {command}" in out


def test_help_is_printed_by_the_real_command() -> None:
    done = cli("report", "--help", env=clean_env(COLUMNS="200"))  # help lines wrap at the terminal width
    assert done.returncode == 0
    assert "--as-of 2026-11-30   # as it stood at the end of 30 Nov" in done.stdout
    assert "end of that day" in done.stdout


@pytest.mark.parametrize(
    "args",
    [("check", "{data}"), ("report", "--account", "acct-a")],
    ids=["check", "report"],
)
def test_a_reader_that_goes_away_ends_the_command_quietly(edge: dict[str, str], args: tuple[str, ...]) -> None:
    """`check DIR | head -3`: head exits after three lines; here the reader is gone before the first."""
    command = [sys.executable, "-m", "token_analytics", *(arg.format(data=edge["ANALYTICS_DATA_DIR"]) for arg in args)]
    process = subprocess.Popen(command, cwd=ROOT, env=edge, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    err = process.stderr.read().decode()
    process.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert process.returncode == 141  # as a command killed by SIGPIPE


def test_check_piped_into_head_in_a_shell(edge: dict[str, str]) -> None:
    done = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m token_analytics check "$DIR" --progress | head -1'],
        cwd=ROOT,
        env=edge | {"DIR": edge["ANALYTICS_DATA_DIR"]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.startswith("12 files: 8 read, 4 rejected") and one_line(done.stdout)
    assert "Traceback" not in done.stderr


# --- reset-sample ------------------------------------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the package and its queries, a generated-looking sample and the DuckDB files of both modes.

    The default sample lives inside the checkout (data/sample/), so the command runs on a copy, never on yours.
    """
    shutil.copytree(
        ROOT / "token_analytics", tmp_path / "token_analytics", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(ROOT / "queries", tmp_path / "queries")  # the statements the package reads (ingest's at import)
    data = tmp_path / "data"
    (data / "sample" / "accounts").mkdir(parents=True)
    (data / "sample" / "accounts" / "accounts.parquet").write_bytes(b"PAR1")
    for name in ("app", "app_exports", "app-self-hosted", "app-self-hosted_exports", "mine"):
        duckdb.connect(str(data / f"{name}.duckdb")).close()
    (data / "app_exports.duckdb.wal").write_bytes(b"")
    return tmp_path


def test_reset_sample_deletes_the_sample_and_the_duckdb_files_of_both_modes(checkout: Path) -> None:
    done = cli("reset-sample", env=clean_env(), cwd=checkout)
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in (checkout / "data").iterdir()) == ["mine.duckdb"]  # not one of ours
    assert f"deleted {checkout / 'data' / 'app-self-hosted_exports.duckdb'}" in done.stdout
    again = cli("reset-sample", env=clean_env(), cwd=checkout)
    assert again.returncode == 0 and "nothing to delete" in again.stdout


def test_reset_sample_refuses_another_data_folder(checkout: Path, tmp_path: Path) -> None:
    done = cli("reset-sample", env=clean_env(ANALYTICS_DATA_DIR=str(tmp_path / "exports")), cwd=checkout)
    assert done.returncode == 2 and one_line(done.stderr) and "not the generated sample" in done.stderr
    assert (checkout / "data" / "sample").is_dir() and (checkout / "data" / "app.duckdb").exists()


def test_reset_sample_refuses_while_a_dashboard_holds_the_files(checkout: Path) -> None:
    held = checkout / "data" / "app-self-hosted_exports.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
         "sys.stdin.read()", str(held)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        done = cli("reset-sample", env=clean_env(), cwd=checkout)
    finally:
        holder.communicate("", timeout=60)
    assert done.returncode == 2 and one_line(done.stderr) and "app-self-hosted_exports.duckdb is in use" in done.stderr
    assert (checkout / "data" / "sample").is_dir() and (checkout / "data" / "app.duckdb").exists()


# --- the test run itself -----------------------------------------------------------------------------------------


def test_a_test_run_leaves_no_duckdb_connection_alive_at_exit() -> None:
    """What is alive at exit, nanobind prints as `leaked ... DuckDBPyConnection`: a failed open's connection,
    kept by the traceback of an exception that lived as long as the test session, was."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.leakcheck",
         "tests/test_first_start.py::test_a_failed_open_leaves_nothing_behind"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert "duckdb connections alive at the end: 0" in done.stderr, done.stderr[-2000:]
    assert "leaked" not in done.stderr + done.stdout, done.stderr[-2000:]
