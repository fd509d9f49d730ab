"""The layout holds (issue 7): imports run web -> engine -> billing, and ARCHITECTURE.md names the tree."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "token_analytics"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def modules_of(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).glob("*.py"))


def dotted(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, absolute, at any depth (lazy imports in functions included)."""
    package = dotted(path) if path.name == "__init__.py" else dotted(path).rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_importing_the_engine_does_not_import_streamlit() -> None:
    names = [dotted(path) for path in modules_of("engine")]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'streamlit' or m.startswith('streamlit.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "token_analytics.engine.store" in names and "token_analytics.engine" in names
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [("billing", ("token_analytics.engine", "token_analytics.web", "streamlit")), ("engine", ("token_analytics.web",))],
)
def test_imports_run_one_way(layer: str, forbidden: tuple[str, ...]) -> None:
    offending = {
        f"{path.relative_to(ROOT)} imports {module}"
        for path in modules_of(layer)
        for module in imported_modules(path)
        if any(module == name or module.startswith(name + ".") for name in forbidden)
    }
    assert offending == set()


def test_the_import_scan_sees_imports() -> None:
    # Without this the test above could pass on a scan that finds nothing.
    assert "token_analytics.billing.appdb.AppDB" in imported_modules(PACKAGE / "engine" / "store.py")
    assert "token_analytics.billing.core" in imported_modules(PACKAGE / "billing" / "appdb.py")


def architecture_modules() -> set[str]:
    """The .py paths named at the start of a line in the module list of ARCHITECTURE.md."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^([\w./]+\.py)\b", section, flags=re.MULTILINE))


def test_architecture_starts_with_the_layers_and_where_changes_go() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert text.startswith("# Architecture\n\n```\n")
    picture = text.split("```")[1]
    for layer in ("token_analytics/web/", "token_analytics/engine/", "token_analytics/billing/", "dashboard.py"):
        assert layer in picture
    table = text.split("## Where a change goes", 1)[1].split("\n## ", 1)[0]
    for change in ("new figure", "new page", "new export column", "new payment provider", "new app-database table"):
        assert f"| a {change} |" in table


def test_architecture_names_every_module_of_the_package() -> None:
    named = architecture_modules()
    missing = sorted(name for name in named if not (ROOT / name).is_file())
    assert missing == [], f"ARCHITECTURE.md names modules that do not exist: {missing}"
    in_tree = {str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"} | {
        str(path.relative_to(ROOT)) for path in (ROOT / "benchmarks").rglob("*.py") if path.name != "__init__.py"
    }
    unnamed = sorted(in_tree - named)
    assert unnamed == [], f"modules missing from the module list of ARCHITECTURE.md: {unnamed}"
