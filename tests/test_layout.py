"""The layout holds: every import points down the graph of ARCHITECTURE.md, no cycles, and it names the tree."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

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


# What each part of the package may import from the package (besides itself): the graph of
# docs/ARCHITECTURE.md. `db` is the bottom; engine and the app's concerns sit on it; web and the
# command line on top. A concern reaches another only where this says so.
ALLOWED: dict[str, set[str]] = {
    # the StrEnum base whose members have an i18n key: imported by every vocabulary, imports nothing
    "labels": set(),
    "settings": {"labels"},
    "catalogue_zh": set(),
    "strings": {"labels", "catalogue_zh"},
    "db": {"labels", "settings"},
    "engine": {"labels", "db", "settings"},
    "accounts": {"labels", "db", "settings", "strings"},
    # billing writes the export format's vocabularies (engine/vocabulary.py) into the app's ledger and orders
    "billing": {"labels", "db", "accounts", "engine", "settings", "strings"},
    "alerts": {"labels", "db", "accounts", "billing", "engine", "settings", "strings"},
    "appdb": {"labels", "db", "accounts", "billing", "alerts"},
    "service": {"labels", "db", "accounts", "billing", "alerts", "engine", "appdb", "settings", "strings"},
    "cli": {"labels", "db", "accounts", "billing", "alerts", "engine", "appdb", "service", "settings", "strings"},
    "__main__": {"cli"},
    "web": {
        "labels",
        "db",
        "accounts",
        "billing",
        "alerts",
        "engine",
        "appdb",
        "service",
        "settings",
        "strings",
        "catalogue_zh",
    },
}
BELOW_WEB = sorted(set(ALLOWED) - {"web", "__main__"})
# Imports of the package inside a function: only pyspark's side. The command line loads the Spark rollup (and with
# it pyspark) only for `rollup --engine spark`; spark_rollup.main is spark-submit's entry, run as a file on a cluster.
LAZY_ALLOWED = {
    ("token_analytics.cli", "token_analytics.engine.spark_rollup"),
    ("token_analytics.engine.spark_rollup", "token_analytics.settings"),
}


def part_of(module: str) -> str:
    """`token_analytics.billing.orders` -> billing; `token_analytics.cli` -> cli."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def package_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def package_imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module of the package, at module level?) for every import of token_analytics in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("token_analytics"):
            # `from token_analytics.engine import store` imports token_analytics.engine.store
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                exists = (ROOT / Path(*candidate.split("."))).with_suffix(".py").is_file()
                found.append((candidate if exists else str(node.module), id(node) in top))
        elif isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names if alias.name.startswith("token_analytics")]
    return found


def test_no_module_below_web_imports_streamlit() -> None:
    names = [dotted(path) for path in package_modules() if part_of(dotted(path)) in BELOW_WEB]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'streamlit' or m.startswith('streamlit.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert {"token_analytics.engine.store", "token_analytics.db.appfile", "token_analytics.accounts.users"} <= set(
        names
    )
    assert done.stdout.strip() == "[]"


def test_every_import_points_down_the_graph() -> None:
    offending = sorted(
        f"{path.relative_to(ROOT)} imports {module}"
        for path in package_modules()
        for module, _ in package_imports(path)
        if part_of(module) != part_of(dotted(path)) and part_of(module) not in ALLOWED[part_of(dotted(path))]
    )
    assert offending == []


def test_no_import_of_the_package_hides_in_a_function() -> None:
    hidden = sorted(
        f"{path.relative_to(ROOT)} imports {module} inside a function"
        for path in package_modules()
        for module, at_top in package_imports(path)
        if not at_top and (dotted(path), module) not in LAZY_ALLOWED
    )
    assert hidden == []


def test_the_modules_import_no_cycle() -> None:
    graph = {dotted(path): {m for m, _ in package_imports(path)} for path in package_modules()}
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph or nxt == node:
                continue
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, node])):
                return cycle
        state[node] = 2
        return None

    cycles = [cycle for node in sorted(graph) if node not in state and (cycle := visit(node, []))]
    assert cycles == []


def test_the_import_scan_sees_imports() -> None:
    # Without this the tests above could pass on a scan that finds nothing.
    found = dict(package_imports(PACKAGE / "engine" / "store.py"))
    assert found["token_analytics.db.connection"] is True
    assert ("token_analytics.engine.spark_rollup", False) in package_imports(PACKAGE / "cli.py")
    assert part_of("token_analytics.billing.orders") == "billing" and part_of("token_analytics.cli") == "cli"


def test_the_graph_names_every_part_of_the_package() -> None:
    parts = {part_of(dotted(path)) for path in package_modules()} - {""}
    assert parts == set(ALLOWED)


def test_pages_are_not_in_a_folder_streamlit_would_serve_without_the_router() -> None:
    # Streamlit serves a `pages/` folder beside the entry file on its own, without dashboard.py's sign-in.
    assert not (ROOT / "pages").exists()
    assert (ROOT / "app_pages").is_dir()


# A page file reads as the page, top to bottom: its heading, then one line per section, whose drawing code
# lives in web/ (STYLE: ~70-100 lines). The longest page is 99 lines; 120 leaves room for a section or two
# more, while a page that draws its own sections again (they ran 186-322 lines) fails.
PAGE_LINES_MAX = 120


def test_every_page_stays_a_list_of_its_sections() -> None:
    lengths = {
        path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in (ROOT / "app_pages").glob("*.py")
    }
    assert {"analysis.py", "admin.py", "explore.py", "token_history.py"} <= set(lengths)
    assert {name: lines for name, lines in lengths.items() if lines > PAGE_LINES_MAX} == {}


def architecture_modules() -> set[str]:
    """The .py paths named at the start of a line in the module list of ARCHITECTURE.md."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^([\w./]+\.py)\b", section, flags=re.MULTILINE))


def test_architecture_starts_with_the_layers_and_where_changes_go() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert text.startswith("# Architecture\n\n```\n")
    picture = text.split("```")[1]
    for layer in ALLOWED:
        assert f"{layer}/" in picture or f"{layer}.py" in picture or layer in {"__main__", "catalogue_zh"}, layer
    table = text.split("## Where does X go", 1)[1].split("\n## ", 1)[0]
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


def test_tests_mirror_the_package_folders() -> None:
    # A test of token_analytics/<concern>/ lives in tests/<concern>/; e2e/ drives the whole app in a browser.
    test_folders = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    concerns = {p.name for p in PACKAGE.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    assert test_folders - {"e2e"} - concerns == set()
    for folder in test_folders - {"e2e"}:
        assert any((ROOT / "tests" / folder).glob("test_*.py")), folder
