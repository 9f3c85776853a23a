"""The layering contract: pure core <- db <- services <- documents, cli, tui."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PURE = [
    "cellbatch.units",
    "cellbatch.isbt128",
    "cellbatch.settings",
    "cellbatch.site",
    "cellbatch.domain.errors",
    "cellbatch.domain.users",
]


def test_import_contracts_hold():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_load_no_database_ui_or_pdf_library(module):
    code = (
        f"import sys, {module}\n"
        "print([m for m in ('sqlalchemy', 'sqlmodel', 'textual', 'reportlab', 'typer') "
        "if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    ).stdout
    assert out.strip() == "[]"


def test_services_and_domain_import_their_modules_at_the_top():
    """No module of services or the domain imports one of cellbatch's inside a function
    (issue 11): an import in a function body is how a cycle hides from the reader; the
    acyclic-siblings contract sees it, and the import belongs at the top.

    One exception, named on its line: an import deferred for start-up speed (issue 15: a read
    command loads neither the ORM nor the table classes), marked ``# deferred: start-up``. It
    may not hide a cycle: the module it imports must not lead back to the importer.
    """
    import ast

    import grimp

    graph = grimp.build_graph("cellbatch")
    found = []
    for folder in ("services", "domain"):
        for path in sorted((REPO / "cellbatch" / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            lines = text.splitlines()
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            for function in ast.walk(ast.parse(text)):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    names = []
                    if isinstance(node, ast.ImportFrom) and node.level == 0:
                        names = [node.module or ""]
                    elif isinstance(node, ast.Import):
                        names = [alias.name for alias in node.names]
                    names = [n for n in names if n == "cellbatch" or n.startswith("cellbatch.")]
                    if not names:
                        continue
                    deferred = lines[node.lineno - 1].endswith("# deferred: start-up")
                    cycle = any(graph.chain_exists(importer=n, imported=module) for n in names)
                    if not deferred or cycle:
                        found.append(f"{path.relative_to(REPO)}:{node.lineno} {names[0]}")
    assert found == []


def test_the_pure_rule_tests_run_in_under_two_seconds_without_a_database():
    """Issue 11: the step kinds' rule tests need no database, and all of them together run
    (set-up, test, tear-down) in under 2 s."""
    import re

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "--durations=0", "-vv", "tests/test_step_kinds.py"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    phases = re.findall(r"^(\d+\.\d+)s (?:setup|call|teardown) ", done.stdout, re.MULTILINE)
    assert phases and sum(map(float, phases)) < 2.0, done.stdout[-2000:]
    assert "[sqlite]" not in done.stdout and "[postgresql]" not in done.stdout  # no database
