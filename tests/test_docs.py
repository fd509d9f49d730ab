"""The docs keep up with the code: settings, CLI commands, pages, the two commands, demo users, links."""

from __future__ import annotations

import re
from pathlib import Path

import bcrypt
import pytest
import yaml

from token_analytics import cli
from token_analytics.settings import VARIABLES
from token_analytics.web import ui

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
TEST_COMMAND = "make test"
RUN_COMMAND = "make run"


def table_rows(markdown: str) -> dict[str, list[str]]:
    """Markdown table rows keyed by their first cell without backticks: `| `X` | a | b |` -> {"X": [...]}."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0].strip("`")] = cells
    return rows


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_every_setting_is_in_the_readme_table_with_its_default(name: str) -> None:
    rows = table_rows(README)
    assert name in rows, f"{name} is missing from the README's settings table"
    default, meaning = VARIABLES[name]
    row = " | ".join(rows[name][1:])
    assert (f"`{default}`" in row) if default else ("empty" in row), f"{name}: the README does not give its default"
    assert len(row) > len(default) + 10, f"{name}: the README does not say what it means"


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    documented = {key for key in table_rows(README) if key.startswith("ANALYTICS_")}
    assert documented <= set(VARIABLES)


def cli_commands() -> list[str]:
    subparsers = next(a for a in cli.parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(subparsers.choices)


@pytest.mark.parametrize("command", cli_commands())
def test_every_cli_command_is_in_the_readme(command: str) -> None:
    assert f"python -m token_analytics {command}" in README


def test_the_cli_has_the_spec_commands() -> None:
    assert set(cli_commands()) >= {"generate", "ingest", "check", "report"}


def test_every_page_file_is_registered_with_the_router() -> None:
    """STYLE habit 1: every file in app_pages/ is an st.Page of the router, and nothing else is."""
    files = {path.name for path in (ROOT / "app_pages").glob("*.py") if path.name != "__init__.py"}
    assert files == {page.file for page in ui.PAGES}
    routes = [page.url_path for page in ui.PAGES]
    assert len(set(routes)) == len(routes)
    assert not (ROOT / "pages").exists(), "a pages/ folder switches Streamlit into legacy multipage mode (SPEC §1)"


def test_the_readme_has_the_two_commands_and_ci_runs_the_same_test_command() -> None:
    assert f"{RUN_COMMAND} " in README and f"{TEST_COMMAND} " in README
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("run", "test", "lint", "bench", "install"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"the Makefile has no `{target}` target"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(rf"^{TEST_COMMAND}$", ci, re.MULTILINE), ".ci/run must end in the README's test command"
    assert "set -euo pipefail" in ci


def test_the_demo_users_and_passwords_in_the_readme_are_right() -> None:
    users = yaml.safe_load((ROOT / "auth" / "demo_users.yaml").read_text(encoding="utf-8"))["credentials"]["usernames"]
    rows = table_rows(README)
    for username, entry in users.items():
        assert username in rows, f"demo user {username} is not in the README"
        password = rows[username][1].strip("`")
        assert bcrypt.checkpw(password.encode(), entry["password"].encode()), f"wrong demo password for {username}"
        assert rows[username][3].strip("`") == entry["account_id"]
    assert "never use them in production" in README


def test_relative_links_in_the_docs_resolve() -> None:
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            path = doc.parent / target
            if "://" in target:
                continue
            assert path.exists(), f"{doc.relative_to(ROOT)} links to missing {target}"
