"""`rollup --engine spark` where Spark cannot run says in one line what to install (no Spark started)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import NOW, write_edge_export
from token_analytics import cli
from token_analytics.engine import spark_rollup


def test_without_pyspark_the_command_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark raises ImportError
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    monkeypatch.setenv("ANALYTICS_APP_DB", str(tmp_path / "app.duckdb"))
    code = cli.main(["rollup", "--engine", "spark", "--exports", str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "pip install" in err and "pyspark" in err and "openjdk-17-jre-headless" in err
    assert not (tmp_path / "out").exists()


def test_without_java_the_session_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyspark", reason="pyspark is a dev requirement")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(spark_rollup.shutil, "which", lambda name: None)
    with pytest.raises(spark_rollup.RollupError, match="Java 17 runtime"):
        spark_rollup.session("local[1]")


def test_a_foreign_out_folder_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    class NoSpark:
        """Storage without Spark: read_format only needs read_text and entries on local paths."""

        read_text = spark_rollup.Storage.read_text
        entries = spark_rollup.Storage.entries

    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(spark_rollup.RollupError, match="not empty and has no _format.json"):
        spark_rollup.read_format(NoSpark(), str(tmp_path))  # type: ignore[arg-type]
    (tmp_path / "notes.txt").unlink()
    (tmp_path / "_format.json").write_text('{"format": "token-analytics-derived", "version": 2}')
    with pytest.raises(spark_rollup.RollupError, match="is not derived format v1"):
        spark_rollup.read_format(NoSpark(), str(tmp_path))  # type: ignore[arg-type]
    (tmp_path / "_format.json").unlink()
    (tmp_path / "usage_daily").mkdir()  # a run stopped before _format.json: rewritten whole, not refused
    assert spark_rollup.read_format(NoSpark(), str(tmp_path)) is None


def test_the_jvm_options_follow_the_size_of_the_event_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Small event files: the first JIT tier (a short job); large ones or an object store: Java's own; the
    variable, when set, wins (empty included)."""
    monkeypatch.delenv(spark_rollup.JAVA_OPTIONS, raising=False)
    events = tmp_path / "usage_events" / "month=2026-11"
    events.mkdir(parents=True)
    (events / "a.parquet").write_bytes(b"\0" * 1000)
    assert spark_rollup.java_options_for(str(tmp_path)) == spark_rollup.DEFAULT_JAVA_OPTIONS
    monkeypatch.setattr(spark_rollup, "SMALL_EXPORT_BYTES", 999)
    assert spark_rollup.java_options_for(str(tmp_path)) == ""
    assert spark_rollup.java_options_for("s3a://lake/exports") == ""
    monkeypatch.setenv(spark_rollup.JAVA_OPTIONS, "-XX:+UseSerialGC")
    assert spark_rollup.java_options_for(str(tmp_path)) == "-XX:+UseSerialGC"
    monkeypatch.setenv(spark_rollup.JAVA_OPTIONS, "")
    monkeypatch.setattr(spark_rollup, "SMALL_EXPORT_BYTES", 10**9)
    assert spark_rollup.java_options_for(str(tmp_path)) == ""


@pytest.mark.parametrize(("text", "seconds"), [("600", 600), ("45s", 45), ("10m", 600), ("1h", 3600), (" 2h ", 7200)])
def test_every_reads_a_duration(text: str, seconds: int) -> None:
    assert spark_rollup.parse_every(text) == seconds


@pytest.mark.parametrize("text", ["0", "10 m", "1d", "-5", "1.5h", "", "h"])
def test_every_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(spark_rollup.RollupError, match="give a duration such as 600, 10m or 1h"):
        spark_rollup.parse_every(text)


def test_every_is_refused_in_one_line_before_spark_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the DuckDB engine (a cron job suits it), or with a duration that is not one: exit 2, nothing started."""
    monkeypatch.setenv("ANALYTICS_APP_DB", str(tmp_path / "app.duckdb"))
    monkeypatch.setattr(spark_rollup, "session", lambda *a, **k: pytest.fail("no session may start"))
    base = ["rollup", "--exports", str(tmp_path), "--out", str(tmp_path / "out"), "--every"]
    assert cli.main([*base, "10m"]) == 2
    assert capsys.readouterr().err.strip() == (
        "rollup: --every keeps a Spark session between runs; run the duckdb engine from cron."
    )
    assert cli.main([*base, "ten", "--engine", "spark"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "rollup: --every 'ten': give a duration such as 600, 10m or 1h."
    for rounds in (["--every", "1h", "--rounds", "0"], ["--rounds", "2"]):  # no round, or rounds without --every
        assert cli.main([*base[:-1], "--engine", "spark", *rounds]) == 2
        assert capsys.readouterr().err.strip() == (
            "rollup: --rounds counts the runs of --every: give both, and at least 1 round."
        )
    assert spark_rollup.main(["--exports", str(tmp_path), "--out", str(tmp_path / "out"), "--rounds", "3"]) == 2
    assert "--rounds counts the runs of --every" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.spark
def test_every_stops_on_sigterm_after_the_run_under_way(tmp_path: Path) -> None:
    """As a service manager stops it: SIGTERM while the command waits for its next round ends it with exit 0, the
    folder whole (its _format.json written) and the JVM gone with it."""
    pytest.importorskip("pyspark", reason="pyspark is a dev requirement")
    exports = write_edge_export(tmp_path / "export")
    env = {**os.environ, "ANALYTICS_APP_DB": str(tmp_path / "app.duckdb"), "ANALYTICS_NOW": NOW}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    command = [sys.executable, "-m", "token_analytics", "rollup", "--engine", "spark", "--master", "local[1]"]
    command += ["--exports", str(exports), "--out", str(tmp_path / "out"), "--every", "1h"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the first round's line: the command now waits an hour
        assert " spark rollup: " in first and "into " in first, first
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert time.monotonic() - started < 60
    finally:
        process.kill()
    assert (tmp_path / "out" / "_format.json").is_file()
    assert process.stdout.read() == ""


def test_every_refuses_a_wait_past_a_year() -> None:
    """A thread cannot wait 10^11 hours (OverflowError after the first run); the duration is refused up front."""
    assert spark_rollup.parse_every("8784h") == 366 * 24 * 3600
    for text in ("8785h", "99999999999h"):
        with pytest.raises(spark_rollup.RollupError, match=r"at most a year \(8784h\) between runs"):
            spark_rollup.parse_every(text)


def test_a_second_rollup_on_the_same_folder_is_refused_while_one_writes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two writers on one local folder (two --every services, cron over a slow run): the second is refused in one
    line before it reads or writes anything, and stops the session it started; once the first lets go, the folder
    is free again."""
    import fcntl

    stopped = []

    class Started:
        """The session this run starts (none of its work is reached): the refused run still stops it."""

        def stop(self) -> None:
            stopped.append(True)

    monkeypatch.setattr(spark_rollup, "session", lambda *a, **k: Started())
    out = tmp_path / "derived"
    out.mkdir()
    with open(out / spark_rollup.LOCK, "a") as held:  # the first writer, as another process holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(spark_rollup.RollupError, match=r"^another rollup is writing .*derived now: wait for it"):
            spark_rollup.rollup(
                str(tmp_path), str(out), timezone="UTC", now=spark_rollup.datetime.now(spark_rollup.UTC)
            )
    with spark_rollup.writing(str(out)):  # released: the next writer takes it
        pass
    assert stopped == [True]
    assert [p.name for p in out.iterdir()] == [spark_rollup.LOCK]  # nothing written by the refused run
