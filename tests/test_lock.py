"""requirements.lock pins every requirement, and every pin satisfies the ranges of requirements*.txt."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def requirements(path: Path) -> list[Requirement]:
    """The requirements of a requirements file, following `-r other.txt` includes."""
    found: list[Requirement] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            found += requirements(path.parent / line[3:].strip())
        elif not line.startswith("-"):
            found.append(Requirement(line))
    return found


def pins(path: Path) -> dict[str, Version]:
    """name -> pinned version of a compiled lock file (`name==version` lines)."""
    pinned: dict[str, Version] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"requirements.lock: {raw!r} is not an exact pin"
        pinned[canonicalize_name(Requirement(name).name)] = Version(version.strip())
    return pinned


def test_the_parsers_see_what_they_should(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("pandas>=2.2  # ranges\n\nduckdb==2.0.0\n")
    (tmp_path / "dev.txt").write_text("-r base.txt\npytest>=8\n")
    assert [str(r) for r in requirements(tmp_path / "dev.txt")] == ["pandas>=2.2", "duckdb==2.0.0", "pytest>=8"]
    (tmp_path / "x.lock").write_text("# header\nPandas==3.1.1\n    # via -r base.txt\nduckdb==2.0.0\n")
    assert pins(tmp_path / "x.lock") == {"pandas": Version("3.1.1"), "duckdb": Version("2.0.0")}


@pytest.mark.parametrize("source", ["requirements.txt", "requirements-dev.txt"])
def test_every_requirement_is_pinned_inside_its_range(source: str) -> None:
    pinned = pins(ROOT / "requirements.lock")
    for requirement in requirements(ROOT / source):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} ({source}) has no pin in requirements.lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements.lock pins {name}=={pinned[name]}, outside {requirement} of {source}"
        )


def test_the_lock_says_how_it_was_made() -> None:
    header = (ROOT / "requirements.lock").read_text().splitlines()[:3]
    assert any("uv pip compile requirements-dev.txt" in line for line in header)


def test_the_readme_and_makefile_give_the_same_upgrade_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n\t\t", "")
    command = (
        "uv pip compile requirements-dev.txt --python-version 3.11 --python-platform x86_64-unknown-linux-gnu "
        "--upgrade -o requirements.lock"
    )
    assert command in readme
    assert command in makefile
    assert "-r requirements.lock" in makefile and "-c requirements.lock" in makefile
    # CI installs the lock through `make test`, into the same .venv a person gets, not into the system Python.
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "pip install" not in ci
