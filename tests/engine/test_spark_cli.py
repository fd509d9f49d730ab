"""`rollup --engine spark` where Spark cannot run says in one line what to install (no Spark started)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

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
