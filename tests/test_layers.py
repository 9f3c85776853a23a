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
